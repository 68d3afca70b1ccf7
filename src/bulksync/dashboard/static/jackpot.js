// The jackpot panel: shown while GET /api/jackpot/stats answers 200, hidden while it is a 404
// (a server without the jackpot service).

import {ApiError, call} from './api.js';
import {bar, count, el, money, percent} from './format.js';

const RECHECK_MS = 30000; // how often a server without the service is asked again

let absentSince = null;

function figure(label, value) {
  return el('div', {}, el('div', {class: 'label', text: label}), el('div', {class: 'value', text: value}));
}

export async function refreshJackpot(section) {
  if (absentSince !== null && Date.now() - absentSince < RECHECK_MS) return;
  let stats;
  try {
    stats = await call('/api/jackpot/stats');
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      absentSince = Date.now();
      section.hidden = true;
      return;
    }
    throw error;
  }
  absentSince = null;
  draw(section, stats);
  section.hidden = false;
}

function draw(section, stats) {
  const pct = (v) => (v == null ? '–' : percent(100 * v));
  section.querySelector('#jackpot-figures').replaceChildren(
    figure('contributions/s', (stats.contributions_per_s ?? 0).toFixed(1)),
    figure('p95', stats.p95_ms == null ? '–' : `${stats.p95_ms.toFixed(1)} ms`),
    figure('errors', pct(stats.error_rate)),
    figure('queue', count(stats.queue_size)),
    figure('cache hits', pct(stats.cache_hit_rate)),
  );
  section.querySelector('#jackpot-pools').replaceChildren(...(stats.pools || []).map(pool));
}

function pool(p) {
  const cap = p.cap_minor == null ? 'no cap' : `cap ${money(p.cap_minor, p.currency)}`;
  return el('div', {class: 'pool', 'data-pool': p.name},
    el('div', {class: 'label', text: p.name}),
    el('div', {class: 'amount', text: money(p.amount_minor, p.currency)}),
    p.cap_minor ? bar((100 * p.amount_minor) / p.cap_minor, '', `${p.name} of its cap`) : null,
    el('div', {class: 'label', text: `seed ${money(p.seed_minor, p.currency)} · ${cap}`}),
  );
}
