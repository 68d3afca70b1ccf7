// The dashboard: a token prompt, the jobs list (refreshed every two seconds), one job's page
// (live over the job's event stream), cancel and resume for tokens that may write.

import {ApiError, call, follow, token} from './api.js';
import {el} from './format.js';
import {refreshJackpot} from './jackpot.js';
import {canCancel, canResume, drawJob, isActive, jobRow} from './jobs.js';

const REFRESH_MS = 2000;
const RETRY_MS = 2000;
const STALL_MS = 5 * 60 * 1000; // a running job whose rows have not moved for this long is "stalled"
const SHOWN = ['running', 'queued', 'stopping', 'lost', 'failed', 'partial', 'succeeded', 'cancelled'];
const HOT = new Set(['failed', 'lost', 'partial']);

const $ = (id) => document.getElementById(id);
const state = {me: null, timer: null, stream: null, moved: new Map(), view: 0};
const jobNodes = {
  title: $('job-title'), status: $('job-status'), error: $('job-error'), figures: $('job-figures'),
  total: $('job-total'), failed: $('job-failed'), failedTitle: $('failed-title'),
  parts: $('job-parts'), partsTitle: $('parts-title'),
};

function notice(text, bad = false) {
  $('notice').hidden = !text;
  $('notice').textContent = text || '';
  $('notice').classList.toggle('bad', bad);
}

/** Whether a running job's rows have stood still for STALL_MS, as seen from this page. */
function stalled(job) {
  const seen = state.moved.get(job.job_id);
  const now = Date.now();
  if (!seen || seen.rows !== job.processed_records) {
    state.moved.set(job.job_id, {rows: job.processed_records, at: now});
    return false;
  }
  return job.status === 'running' && now - seen.at > STALL_MS;
}

function showLogin(message) {
  stop();
  state.me = null;
  for (const id of ['jobs', 'job', 'jackpot', 'who', 'signout']) $(id).hidden = true;
  $('counts').replaceChildren();
  $('login').hidden = false;
  notice(message, true);
  $('token').focus();
}

async function enter() {
  try {
    state.me = await call('/api/v1/dashboard');
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      token.clear();
      showLogin(`This token was refused: ${error.message}`);
    } else {
      notice(`The server did not answer (${error.message}); retrying.`, true);
      state.timer = setTimeout(enter, RETRY_MS);
    }
    return;
  }
  $('login').hidden = true;
  notice('');
  $('who').hidden = $('signout').hidden = false;
  $('who').textContent = `token ${state.me.token}${state.me.can_write ? '' : ' · read-only'}`;
  drawCounts(state.me.counts);
  route();
}

function drawCounts(counts) {
  $('counts').replaceChildren(...SHOWN.filter((s) => counts[s] || ['running', 'queued', 'failed'].includes(s))
    .map((s) => el('a', {class: `chip ${HOT.has(s) && counts[s] ? 'hot' : ''}`, href: `#/?status=${s}`,
      'data-status': s}, el('b', {text: String(counts[s] || 0)}), s)));
}

function route() {
  if (!state.me) return;
  const match = location.hash.match(/^#\/jobs\/([^/?]+)/);
  stop();
  if (match) return openJob(decodeURIComponent(match[1]));
  const wanted = new URLSearchParams(location.hash.split('?')[1] || '').get('status') || '';
  $('filter').value = wanted;
  $('job').hidden = true;
  $('jobs').hidden = false;
  tick();
}

function stop() {
  state.view += 1; // a tick still in flight for the view left behind schedules nothing
  clearTimeout(state.timer);
  if (state.stream) state.stream.abort();
  state.stream = null;
}

/** The list page: counts, jobs, jackpot; again every REFRESH_MS while it is shown. */
async function tick() {
  const view = state.view;
  try {
    const status = $('filter').value;
    const query = status ? `?status=${encodeURIComponent(status)}&limit=100` : '?limit=100';
    const [me, list] = await Promise.all([call('/api/v1/dashboard'), call(`/api/v1/jobs${query}`)]);
    state.me = me;
    drawCounts(me.counts);
    $('job-list').replaceChildren(...(list.jobs.length
      ? list.jobs.map((job) => jobRow(job, {stalled: stalled(job)}))
      : [el('p', {class: 'empty', text: status ? `No ${status} jobs.` : 'No jobs yet.'})]));
    await refreshJackpot($('jackpot'));
    notice('');
  } catch (error) {
    if (!handled(error)) notice(`The server did not answer (${error.message}); retrying.`, true);
    if (!state.me) return;
  }
  if (view === state.view) state.timer = setTimeout(tick, REFRESH_MS);
}

/** The header's counts while a job's page is shown (the list page's tick draws them there). */
async function refreshCounts() {
  const view = state.view;
  try {
    state.me = await call('/api/v1/dashboard');
    drawCounts(state.me.counts);
  } catch (error) {
    if (handled(error)) return;
  }
  if (view === state.view) state.timer = setTimeout(refreshCounts, REFRESH_MS);
}

function handled(error) {
  if (error instanceof ApiError && error.status === 401) {
    token.clear();
    showLogin(`The server refused the token: ${error.message}`);
    return true;
  }
  return false;
}

/** One job's page: its record now, then every change from its event stream until it ends. */
async function openJob(jobId) {
  $('jobs').hidden = $('jackpot').hidden = true;
  notice('');
  refreshCounts();
  $('job').hidden = false;
  $('job-live').textContent = 'connecting…';
  const controller = new AbortController();
  state.stream = controller;
  const show = (job) => {
    drawJob(job, {stalled: stalled(job), nodes: jobNodes});
    drawActions(job);
  };
  while (!controller.signal.aborted) {
    try {
      const ended = await follow(jobId, (name, data) => {
        if (name === 'job') {
          show(data);
          $('job-live').textContent = 'live';
        } else if (name === 'error') $('job-live').textContent = data.detail;
      }, controller.signal);
      if (ended) {
        $('job-live').textContent = 'finished';
        return;
      }
    } catch (error) {
      if (controller.signal.aborted || handled(error)) return;
      if (error instanceof ApiError && error.status < 500) {
        $('job-live').textContent = '';
        notice(error.message, true);
        return;
      }
      $('job-live').textContent = `stream lost (${error.message}); reconnecting…`;
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

function drawActions(job) {
  const buttons = [];
  if (state.me && state.me.can_write) {
    if (canCancel(job)) buttons.push(action('Cancel', 'cancel', job, 'danger'));
    if (canResume(job)) buttons.push(action('Resume', 'resume', job, ''));
  }
  $('job-actions').replaceChildren(...buttons);
}

function action(label, verb, job, style) {
  const button = el('button', {type: 'button', class: style, text: label, 'data-action': verb});
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const after = await call(`/api/v1/jobs/${encodeURIComponent(job.job_id)}/${verb}`, {method: 'POST'});
      notice('');
      drawJob(after, {stalled: false, nodes: jobNodes}); // "stopping" or "queued" at once
      drawActions(after);
      if (verb === 'resume' || !isActive(after)) route(); // follow the job's new attempt / final state
    } catch (error) {
      if (!handled(error)) notice(`${label} refused: ${error.message}`, true);
      button.disabled = false;
    }
  });
  return button;
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = $('token').value.trim();
  $('token').value = '';
  if (!value) return;
  token.set(value);
  enter();
});
$('signout').addEventListener('click', () => {
  token.clear();
  showLogin('');
});
$('filter').addEventListener('change', () => {
  const status = $('filter').value;
  location.hash = status ? `#/?status=${status}` : '#/';
});
window.addEventListener('hashchange', route);

if (token.get()) enter();
else showLogin('');
