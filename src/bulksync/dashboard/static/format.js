// Building DOM nodes (text only: a table name or an error line is never parsed as HTML) and
// formatting numbers the way the CLI prints them.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'href' || key === 'role') {
      node.setAttribute(key, value);
    } else node[key] = value;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const whole = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});

export function count(n) {
  return whole.format(n ?? 0);
}

export function rate(perSecond) {
  if (!perSecond) return '–';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)}M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}K/s`;
  return `${perSecond.toFixed(0)}/s`;
}

export function duration(seconds) {
  if (seconds == null) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function percent(value) {
  return `${(value ?? 0).toFixed(value >= 100 || !value ? 0 : 1)}%`;
}

export function when(iso) {
  if (!iso) return '–';
  return iso.replace('T', ' ').replace('Z', ' UTC');
}

/** A progress bar; `state` colours it (succeeded, failed, cancelled, done). */
export function bar(value, state, label) {
  const width = Math.max(0, Math.min(100, value ?? 0));
  const fill = el('span');
  fill.style.width = `${width}%`; // CSSOM, which the page's CSP allows (a style attribute it would not)
  return el('div', {
    class: `bar ${state || ''}`, role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-valuenow': String(Math.round(width)), 'aria-label': label || 'progress',
  }, fill);
}

/** A money amount held in minor units (cents), in its currency's own number of decimals. */
export function money(minor, currency) {
  let format;
  try {
    format = new Intl.NumberFormat('en-US', {style: 'currency', currency});
  } catch {
    format = new Intl.NumberFormat('en-US', {minimumFractionDigits: 2});
  }
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(minor / 10 ** digits);
}
