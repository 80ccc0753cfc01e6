// live.js keeps a dashboard page current: it listens to the node's event
// stream (/ui/events, the API's deployment transitions) and, within a
// second of one, fetches the page again and swaps its #main. When the node
// is lost it says so in #live, keeps trying it, and moves the browser to
// the same page on another member of the cluster (meta honua-nodes) as
// soon as one answers.

const live = document.getElementById('live');
const nodes = (document.querySelector('meta[name=honua-nodes]')?.content || '').split(' ').filter(Boolean);
const node = document.body.dataset.node;

let source = null;
let refreshTimer = null;
let probing = false;
let refused = 0;

function setState(state, text) {
  live.dataset.state = state;
  live.textContent = text;
}

// refresh swaps #main for the current page's, at most every 300 ms. While
// the user types in a form of the page, it waits, so nothing typed is lost.
function refresh() {
  if (refreshTimer !== null) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    const active = document.activeElement;
    const main = document.getElementById('main');
    if (main && active && main.contains(active) && /^(TEXTAREA|INPUT|SELECT)$/.test(active.tagName) && active.value) {
      refresh();
      return;
    }
    swap();
  }, 300);
}

function swap() {
  const url = location.pathname + location.search;
  if (window.htmx) {
    window.htmx.ajax('GET', url, { target: '#main', select: '#main', swap: 'outerHTML' });
    return;
  }
  fetch(url, { credentials: 'same-origin', cache: 'no-store' })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(r.statusText))))
    .then((html) => {
      const next = new DOMParser().parseFromString(html, 'text/html').getElementById('main');
      const main = document.getElementById('main');
      if (next && main) main.replaceWith(next);
    })
    .catch(() => {});
}

function connect(after) {
  if (source) source.close();
  source = new EventSource('/ui/events?after=' + encodeURIComponent(after));
  source.addEventListener('open', () => {
    refused = 0;
    setState('live', 'Live: updates from ' + node + '.');
  });
  source.addEventListener('transition', refresh);
  source.addEventListener('error', () => {
    lost();
  });
}

// up resolves true when base answers its /healthz (an opaque answer is
// enough: the node is up).
async function up(base) {
  try {
    await fetch(base + '/healthz', { mode: 'no-cors', cache: 'no-store', signal: AbortSignal.timeout(1500) });
    return true;
  } catch {
    return false;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// lost shows that the node is lost, with links to the others, and looks
// for a node to go on with: this one again, or the first other that
// answers.
async function lost() {
  if (live.dataset.state !== 'lost') {
    live.dataset.state = 'lost';
    live.textContent = 'Lost contact with ' + node + '… retrying.';
    if (nodes.length > 0) {
      live.append(' Other nodes: ');
      nodes.forEach((n, i) => {
        const a = document.createElement('a');
        a.href = n + location.pathname + location.search;
        a.textContent = n;
        live.append(a);
        if (i < nodes.length - 1) live.append(', ');
      });
    }
  }
  if (probing) return;
  probing = true;
  try {
    while (live.dataset.state === 'lost') {
      if (await up('')) {
        // This node is up: reconnect (an EventSource that was refused
        // does not retry by itself) and bring the page up to date. A
        // node that is up but keeps refusing the stream (the session
        // ended) gets the page loaded again, which says why.
        if (source.readyState === EventSource.CLOSED) {
          if (++refused > 3) {
            location.reload();
            return;
          }
          connect(document.body.dataset.index);
        }
        await sleep(1500);
        if (live.dataset.state !== 'lost') refresh();
        continue;
      }
      for (const n of nodes) {
        if (await up(n)) {
          location.assign(n + location.pathname + location.search);
          return;
        }
      }
      await sleep(1000);
    }
  } finally {
    probing = false;
  }
}

if (live) connect(document.body.dataset.index || '0');
