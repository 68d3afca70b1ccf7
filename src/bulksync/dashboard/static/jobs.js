// The jobs list and one job's page, drawn from the job records of the public API. Every kind of
// job (sync, migrate, bets, store syncs…) is drawn the same way: its per-table entries (or
// per-store, per-partition) become one bar each.

import {bar, count, duration, el, percent, rate, when} from './format.js';

const ACTIVE = new Set(['queued', 'running', 'stopping', 'lost']);
const CANCELLABLE = new Set(['queued', 'running', 'lost']);
const RESUMABLE = new Set(['failed', 'cancelled', 'lost']);

export const canCancel = (job) => CANCELLABLE.has(job.status);
export const canResume = (job) => RESUMABLE.has(job.status);
export const isActive = (job) => ACTIVE.has(job.status);

/** What one entry of `tables` is called for this kind of job. */
export function partNoun(job) {
  return job.kind.includes('store') ? ['store', 'stores'] : ['table', 'tables'];
}

function parts(job) {
  return Object.entries(job.tables || {});
}

function failedParts(job) {
  return parts(job).filter(([, p]) => p.phase === 'failed');
}

/** "12,000 / 60,000 rows", plus "3/10 stores" for jobs whose parts are stores. */
export function doneText(job) {
  const rows = `${count(job.processed_records)} / ${count(job.estimated_records)} rows`;
  const [, plural] = partNoun(job);
  const all = parts(job);
  if (plural !== 'stores' || !all.length) return rows;
  const finished = all.filter(([, p]) => p.phase === 'done').length;
  return `${finished}/${all.length} stores · ${rows}`;
}

function statusBadge(status, extra) {
  return el('span', {class: `status ${status}`, text: extra ? `${status} · ${extra}` : status});
}

/** One row of the jobs list (a link to the job's page). */
export function jobRow(job, {stalled}) {
  const status = stalled ? 'stalled' : job.status;
  return el('a', {class: 'job', href: `#/jobs/${encodeURIComponent(job.job_id)}`, 'data-job-id': job.job_id},
    el('span', {class: 'id', text: job.job_id}),
    el('span', {class: 'st'}, statusBadge(status)),
    bar(job.progress_percentage, job.status, `${job.job_id} progress`),
    el('span', {class: 'done', text: `${doneText(job)} · ${percent(job.progress_percentage)}`}),
    el('span', {class: 'rate', text: isActive(job) ? rate(job.records_per_second) : ''}),
    el('span', {class: 'eta', text: isActive(job) ? `ETA ${duration(job.eta_seconds)}` : ''}),
    el('span', {class: 'meta', text: [job.kind, describe(job), `attempt ${job.attempts}/${job.max_attempts}`,
      `${job.memory_mb} MB`, `created ${when(job.created_at)}`].join(' · ')}),
    job.error ? el('span', {class: 'err', text: job.error}) : null,
  );
}

/** "dk → warehouse (append)", from whatever the spec names. */
export function describe(job) {
  const spec = job.spec || {};
  const ends = [spec.source, spec.destination].filter(Boolean).map(endName).join(' → ');
  return [ends, spec.mode && `(${spec.mode})`].filter(Boolean).join(' ') || job.kind;
}

/** A spec's end: a connection name, or whatever password-free name the record holds. */
function endName(end) {
  if (typeof end !== 'object') return String(end);
  return String(end.connection || end.name || end.url || '?');
}

function figure(label, value) {
  return el('div', {}, el('dt', {text: label}), el('dd', {text: value}));
}

/** Fill the job page's parts from a job record. */
export function drawJob(job, {stalled, nodes}) {
  const [, plural] = partNoun(job);
  nodes.title.textContent = `${job.kind} ${job.job_id}`;
  nodes.status.replaceChildren(statusBadge(stalled ? 'stalled' : job.status));
  nodes.error.hidden = !job.error;
  nodes.error.textContent = job.error || '';
  nodes.figures.replaceChildren(
    figure('progress', percent(job.progress_percentage)),
    figure('done', doneText(job)),
    figure('rate', rate(job.records_per_second)),
    figure('ETA', isActive(job) ? duration(job.eta_seconds) : '–'),
    figure('memory', `${job.memory_mb} MB`),
    figure('attempts', `${job.attempts}/${job.max_attempts}`),
    figure('what', describe(job)),
    figure('started', when(job.started_at)),
    figure(job.finished_at ? 'finished' : 'updated', when(job.finished_at || job.updated_at)),
  );
  nodes.total.replaceChildren(bar(job.progress_percentage, job.status, 'job progress'));
  const failed = failedParts(job);
  nodes.failedTitle.hidden = nodes.failed.hidden = !failed.length;
  nodes.failedTitle.textContent = `Failed ${plural} (${failed.length})`;
  nodes.failed.replaceChildren(
    ...failed.map(([name, p]) => el('li', {text: `${name}: ${p.message || 'failed'}`})),
  );
  nodes.partsTitle.textContent = plural[0].toUpperCase() + plural.slice(1);
  const all = parts(job);
  nodes.parts.replaceChildren(
    ...(all.length ? all.map(([name, p]) => partCard(name, p)) : [el('p', {class: 'empty', text: `No ${plural} planned yet.`})]),
  );
}

function partCard(name, p) {
  const total = Math.max(p.rows_total || 0, p.rows_done || 0);
  const pct = total ? (100 * (p.rows_done || 0)) / total : p.phase === 'done' ? 100 : 0;
  const bits = [`${count(p.rows_done)} / ${count(total)} rows`, percent(pct)];
  if (p.phase === 'copying' || p.phase === 'running') bits.push(rate(p.rows_per_s), `ETA ${duration(p.eta_s)}`);
  if (p.partitions > 1) {
    bits.push(p.partitions_done != null ? `${p.partitions_done}/${p.partitions} partitions` : `${p.partitions} partitions`);
  }
  if (p.rejected) bits.push(`${count(p.rejected)} rejected`);
  return el('div', {class: 'part', 'data-part': name},
    el('div', {class: 'head'},
      el('span', {class: 'name', text: name}),
      el('span', {class: `status ${p.phase || ''}`, text: p.phase || 'planned'}),
      el('span', {class: 'nums', text: bits.join(' · ')}),
    ),
    bar(pct, p.phase, `${name} progress`),
    p.message ? el('div', {class: 'msg', text: p.message}) : null,
  );
}
