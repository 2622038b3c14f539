#include "server/ui_assets.h"

namespace bim {

std::string_view UiStylesheet() {
  return R"css(:root {
  --bg: #f6f7f9; --fg: #1b1f24; --muted: #57606a; --card: #ffffff; --line: #d8dee4; --link: #0550ae;
  --ok-bg: #dafbe1; --ok: #116329; --warn-bg: #fff8c5; --warn: #7d4e00; --bad-bg: #ffebe9; --bad: #a40e26;
  --build: #3b6fd8; --health: #1f9d55; --total: #8c959f; --code: #eef1f4;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --card: #161b22; --line: #30363d; --link: #6cb6ff;
    --ok-bg: #12361f; --ok: #7ee2a0; --warn-bg: #3a2d05; --warn: #f2cc60; --bad-bg: #48111a; --bad: #ffa198;
    --code: #1f262e; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
code, pre, .log { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
code { background: var(--code); padding: 0 .25em; border-radius: 4px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--card); padding: .25rem .5rem; z-index: 2; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
header.top { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; justify-content: space-between;
  padding: .6rem 1.25rem; background: var(--card); border-bottom: 1px solid var(--line); }
header.top nav { display: flex; align-items: center; gap: 1.25rem; }
header.top ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; }
.brand { font-weight: 700; font-size: 1.2rem; text-decoration: none; color: var(--fg); letter-spacing: .02em; }
.who { display: flex; align-items: center; gap: .75rem; color: var(--muted); font-size: .9rem; }
.who form { margin: 0; }
button { font: inherit; padding: .35rem .9rem; border-radius: 6px; border: 1px solid var(--line);
  background: var(--card); color: var(--fg); cursor: pointer; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.25rem 2rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 .75rem; display: flex; flex-wrap: wrap; align-items: center; gap: .6rem; }
h1 .sub { color: var(--muted); font-weight: 400; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .6rem; }
.lead, .help, .crumbs, footer { color: var(--muted); }
footer { text-align: center; font-size: .85rem; padding: 1rem; }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .55rem .75rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
tbody tr:last-child > * { border-bottom: 0; }
td.num { font-variant-numeric: tabular-nums; }
td.url, table.cards th[scope="row"] { white-space: nowrap; }
tr.failure td { background: var(--bad-bg); }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .8rem; font-weight: 600;
  white-space: nowrap; border: 1px solid transparent; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.muted { background: var(--code); color: var(--muted); }
.reason { color: var(--bad); margin: .2rem 0; overflow-wrap: anywhere; }
.alert { background: var(--bad-bg); color: var(--bad); padding: .6rem .9rem; border-radius: 6px; overflow-wrap: anywhere; }
pre.log-tail { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem;
  max-height: 16rem; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; margin: .4rem 0 0; }
details summary { cursor: pointer; }
dl.facts { display: flex; flex-wrap: wrap; gap: .5rem 2rem; margin: 0 0 .5rem; }
dl.facts dt, .card dt { color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
dl dd { margin: 0; overflow-wrap: anywhere; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 380px), 1fr)); gap: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .4rem 1rem .8rem; }
.card h2 { margin: .5rem 0; }
.card dl > div { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; padding: .2rem 0;
  border-bottom: 1px dashed var(--line); }
.card dt { flex: none; }
.card dd { text-align: right; }
.card dl > div:last-child { border-bottom: 0; }
ul.keys { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; }
ul.plain { padding-left: 1.2rem; }
.chart { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .5rem; }
.chart svg { width: 100%; height: auto; display: block; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { fill: var(--muted); font-size: 11px; }
.bar-build, .key-build { fill: var(--build); background: var(--build); }
.bar-health, .key-health { fill: var(--health); background: var(--health); }
.bar-total, .key-total { fill: var(--total); background: var(--total); }
.chart rect.failed { fill-opacity: .45; stroke: var(--bad); stroke-dasharray: 3 2; }
figcaption { color: var(--muted); font-size: .85rem; text-align: center; }
.key { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin: 0 .3rem 0 .8rem; vertical-align: -1px; }
.login { max-width: 28rem; margin: 2rem auto; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; padding: 1rem 1.5rem 1.5rem; }
.login label { display: block; font-weight: 600; margin-bottom: .3rem; }
.login input { width: 100%; font: inherit; padding: .5rem; border-radius: 6px; border: 1px solid var(--muted);
  background: var(--bg); color: var(--fg); }
.login button { background: var(--link); color: #fff; border-color: var(--link); }
.status-line { margin: .25rem 0 .75rem; }
ol.log { list-style: none; margin: 0; padding: .5rem .75rem; background: #0d1117; color: #e6edf3; border-radius: 8px;
  max-height: 70vh; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
ol.log li { padding: .05rem 0; border-bottom: 1px solid #1f262e; }
@media (max-width: 700px) {
  main { padding: .75rem; }
  table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.cards tr { display: block; border-bottom: 1px solid var(--line); padding: .4rem 0; }
  table.cards th, table.cards td { display: block; border: 0; padding: .15rem .75rem; }
  table.cards td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); font-size: .85rem; }
  td.url, table.cards th[scope="row"] { white-space: normal; overflow-wrap: anywhere; }
  .card dd { text-align: left; }
  .who { width: 100%; justify-content: space-between; }
}
)css";
}

std::string_view UiLogsScript() {
  return R"js(// Follows an app's logs on the live-logs page: server-sent events from the list's data-stream URL.
// Lines are added as text (never as HTML) and at most MAX_LINES are kept.
"use strict";
(function () {
  var MAX_LINES = 1000;
  var list = document.getElementById("log");
  var status = document.getElementById("log-status");
  if (!list || !window.EventSource) return;
  var fresh = true;
  var count = 0;
  var source = new EventSource(list.getAttribute("data-stream"));
  function say(text) { status.textContent = text; }
  source.onopen = function () { fresh = true; say("Following (connected)."); };
  source.onerror = function () { if (source.readyState !== EventSource.CLOSED) say("Connection lost; reconnecting…"); };
  source.onmessage = function (message) {
    var event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (event.event === "heartbeat") return;
    if (event.event === "result") {
      source.close();
      say(event.ok ? "The log stream ended." : "The log stream ended: " + (event.error ? event.error.message : "error"));
      return;
    }
    if (typeof event.line !== "string") return;
    if (fresh) { list.textContent = ""; count = 0; fresh = false; }
    var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    var item = document.createElement("li");
    item.textContent = event.line;
    list.appendChild(item);
    count++;
    while (list.childElementCount > MAX_LINES) list.removeChild(list.firstElementChild);
    if (atBottom) list.scrollTop = list.scrollHeight;
    if (count === 1) say("Following new lines as they come (the newest " + MAX_LINES + " are kept).");
  };
})();
)js";
}

}  // namespace bim
