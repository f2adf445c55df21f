// The search page: reads the form, calls POST /v1/search (first stage, and reranked when asked),
// and renders both lists side by side with scores, timings, the route and the validation verdict.
// Plain browser JavaScript, no build step and no dependencies. Text from the service is always
// inserted with textContent, never as HTML.
"use strict";

const SNIPPET_CHARS = 240;
const KEY_STORAGE = "ragsift-api-key";
const $ = (selector, root = document) => root.querySelector(selector);

let runs = 0; // the latest search; answers of older ones are dropped
let searched = false; // a toggle re-runs the search once there is one on screen
let validateOffered = true; // false once the service says it does not know "validate"

class ApiError extends Error {
  constructor(status, body) {
    super(errorMessage(status, body));
    this.status = status;
    this.body = body;
  }
}

function errorMessage(status, body) {
  const message = body && (body.message || (body.error && body.error.message));
  return `${status}: ${message || "the service answered without a message"}`;
}

// ---------------------------------------------------------------- the form

function readForm() {
  const k = Number.parseInt($("#k").value, 10);
  return {
    query: $("#query").value.trim(),
    mode: ($("input[name=mode]:checked") || { value: "hybrid" }).value,
    k: Number.isFinite(k) ? k : 10,
    rerank: $("#rerank").checked,
    validate: $("#validate").checked && validateOffered,
    filters: parseFilters($("#filters").value),
  };
}

// One expression per line (the CLI grammar, e.g. "year>=2020"), or one JSON object.
function parseFilters(text) {
  const trimmed = text.trim();
  if (!trimmed) return null;
  if (trimmed.startsWith("{")) {
    try {
      return JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`filters: not a valid JSON object (${err.message}); or write one expression per line`);
    }
  }
  return trimmed.split("\n").map((line) => line.trim()).filter(Boolean);
}

function requestBody(form, { rerank, validate }) {
  const body = { query: form.query, mode: form.mode, k: form.k };
  if (form.filters) body.filters = form.filters;
  if (rerank) body.rerank = true;
  if (validate) body.validate = true;
  return body;
}

function saveToUrl(form) {
  const params = new URLSearchParams({ q: form.query, mode: form.mode, k: String(form.k) });
  params.set("rerank", form.rerank ? "1" : "0");
  params.set("validate", $("#validate").checked ? "1" : "0");
  if ($("#filters").value.trim()) params.set("filters", $("#filters").value.trim());
  history.replaceState(null, "", `?${params}`);
}

function loadFromUrl() {
  const params = new URLSearchParams(location.search);
  if (params.has("mode")) {
    const radio = $(`#mode-${CSS.escape(params.get("mode"))}`);
    if (radio) radio.checked = true;
  }
  if (params.has("k")) $("#k").value = params.get("k");
  if (params.has("rerank")) $("#rerank").checked = params.get("rerank") !== "0";
  if (params.has("validate")) $("#validate").checked = params.get("validate") !== "0";
  if (params.has("filters")) $("#filters").value = params.get("filters");
  if (params.get("q")) {
    $("#query").value = params.get("q");
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- calling the service

function headers() {
  const out = { "Content-Type": "application/json" };
  const key = $("#api-key").value.trim();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function post(body) {
  const start = performance.now();
  const response = await fetch("/v1/search", { method: "POST", headers: headers(), body: JSON.stringify(body) });
  let answer = null;
  try {
    answer = await response.json();
  } catch (err) {
    answer = null;
  }
  if (!response.ok) throw new ApiError(response.status, answer);
  answer.roundTripMs = performance.now() - start;
  return answer;
}

// A service without validation rejects the unknown field (422 naming "validate"): ask again without it.
async function search(body) {
  try {
    return await post(body);
  } catch (err) {
    if (body.validate && rejectsValidate(err)) {
      validateOffered = false;
      const box = $("#validate");
      box.checked = false;
      box.disabled = true;
      box.parentElement.title = "this service does not offer validation";
      const { validate, ...rest } = body;
      return post(rest);
    }
    throw err;
  }
}

function rejectsValidate(err) {
  const detail = err instanceof ApiError && err.status === 422 && err.body && err.body.detail;
  return Array.isArray(detail) && detail.some((d) => Array.isArray(d.loc) && d.loc.includes("validate"));
}

async function run() {
  let form;
  try {
    form = readForm();
  } catch (err) {
    showError(err.message);
    return;
  }
  if (!form.query) {
    showError("Type a query first.");
    return;
  }
  const seq = ++runs;
  searched = true;
  saveToUrl(form);
  setStatus("searching", "Searching…");
  // Validation is asked of the final list: the reranked one when reranking.
  const calls = [search(requestBody(form, { rerank: false, validate: form.validate && !form.rerank }))];
  if (form.rerank) calls.push(search(requestBody(form, { rerank: true, validate: form.validate })));
  const [first, reranked] = await Promise.allSettled(calls);
  if (seq !== runs) return;
  if (first.status === "rejected") {
    const err = first.reason;
    if (err instanceof ApiError && err.status === 401) $("#key-box").open = true;
    showError(err.message);
    return;
  }
  render(form, first.value, reranked);
}

// ---------------------------------------------------------------- rendering

function render(form, first, reranked) {
  hideError();
  const answers = [first];
  if (reranked && reranked.status === "fulfilled") answers.push(reranked.value);
  renderRoute(first.route || (answers[1] && answers[1].route));
  renderValidation(answers.map((a) => a.validation).filter(Boolean).pop());
  renderWarnings(answers.flatMap((a) => a.warnings || []));
  const firstRanks = new Map(first.hits.map((hit, i) => [hit.id, i + 1]));
  renderColumn($("#first"), first, null);
  const column = $("#reranked");
  column.hidden = !reranked;
  if (reranked && reranked.status === "fulfilled") {
    renderColumn(column, reranked.value, firstRanks);
  } else if (reranked) {
    renderColumn(column, { hits: [], timings_ms: {} }, firstRanks);
    $(".timings", column).textContent = `rerank failed: ${reranked.reason.message}`;
    column.classList.add("failed");
  }
  $("#columns").hidden = false;
  const shown = answers.length > 1 ? `${first.hits.length} first-stage, ${answers[1].hits.length} reranked` : `${first.hits.length}`;
  setStatus("done", `${shown} hits for “${form.query}” (${form.mode}).`);
}

function renderColumn(column, answer, firstRanks) {
  column.classList.remove("failed");
  $(".timings", column).textContent = formatTimings(answer.timings_ms, answer.roundTripMs);
  const settings = $(".settings", column);
  if (settings) settings.textContent = formatSettings(answer.rerank_settings);
  const list = $(".hits", column);
  list.replaceChildren(...answer.hits.map((hit, i) => hitItem(hit, i + 1, firstRanks)));
  if (!answer.hits.length) {
    const empty = document.createElement("li");
    empty.className = "empty muted";
    empty.textContent = "no hits";
    list.append(empty);
  }
}

function hitItem(hit, rank, firstRanks) {
  const item = $("#hit-template").content.firstElementChild.cloneNode(true);
  item.dataset.id = hit.id;
  $(".rank", item).textContent = `${rank}.`;
  $(".title", item).textContent = hit.title || hit.doc_id;
  $(".score", item).textContent = formatScore(hit.score);
  $(".id", item).textContent = hit.id === hit.doc_id ? hit.id : `${hit.id} (doc ${hit.doc_id})`;
  $(".sources", item).textContent = Object.entries(hit.source_scores || {})
    .map(([name, score]) => `${name} ${formatScore(score)}`)
    .join(" · ");
  $(".snippet", item).textContent = snippet(hit.text || "");
  if (firstRanks) $(".moved", item).append(movement(firstRanks.get(hit.id), rank));
  return item;
}

function movement(before, now) {
  const span = document.createElement("span");
  if (before === undefined) {
    span.className = "new";
    span.textContent = "from deeper candidates";
  } else if (before === now) {
    span.textContent = `was #${before}`;
  } else {
    span.className = before > now ? "up" : "down";
    span.textContent = `was #${before} ${before > now ? "▲" : "▼"}${Math.abs(before - now)}`;
  }
  return span;
}

function renderRoute(route) {
  const panel = $("#route");
  panel.hidden = !route;
  if (!route) return;
  const parts = [`mode auto → ${route.route}`, `${route.kind} query`];
  for (const name of ["domain_terms", "codes", "numbers", "quoted"]) {
    if (route[name] && route[name].length) parts.push(`${name.replace("_", " ")}: ${route[name].join(", ")}`);
  }
  $("#route-summary").textContent = parts.join(" · ");
  fillList($("#route-reasons"), route.reasons || []);
}

function renderValidation(validation) {
  const panel = $("#validation");
  panel.hidden = !validation;
  if (!validation) return;
  const verdict = $("#verdict");
  verdict.textContent = validation.verdict || "?";
  verdict.className = `verdict verdict-${validation.verdict}`;
  const score = [];
  if (typeof validation.probability === "number") score.push(`probability ${validation.probability.toFixed(3)}`);
  if (typeof validation.threshold === "number") score.push(`threshold ${validation.threshold.toFixed(3)}`);
  $("#validation-score").textContent = score.join(" · ");
  fillList($("#validation-reasons"), validation.reasons || []);
  const suggestions = validation.suggestions || {};
  suggestionButtons($("#suggest-spelling"), suggestions.spelling || [], spellingLabel, applySpelling);
  suggestionButtons($("#suggest-related"), suggestions.related || [], termOf, addTerm);
}

function suggestionButtons(box, items, label, apply) {
  box.querySelectorAll("button").forEach((b) => b.remove());
  box.hidden = !items.length;
  for (const item of items) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "suggestion";
    button.textContent = label(item);
    button.addEventListener("click", () => {
      apply(item);
      run();
    });
    box.append(button);
  }
}

const termOf = (item) => (typeof item === "string" ? item : item.term || item.suggestion || JSON.stringify(item));
const spellingLabel = (item) => (item.term ? `${item.term} → ${item.suggestion}` : termOf(item));

function applySpelling(item) {
  const query = $("#query");
  if (!item.term) {
    addTerm(item);
    return;
  }
  const word = new RegExp(`(^|[^\\p{L}\\p{N}])${escapeRegExp(item.term)}(?=$|[^\\p{L}\\p{N}])`, "giu");
  const fixed = query.value.replace(word, (_, before) => before + item.suggestion);
  query.value = fixed === query.value ? `${query.value} ${item.suggestion}` : fixed;
}

function addTerm(item) {
  const query = $("#query");
  query.value = `${query.value.trim()} ${termOf(item)}`.trim();
}

function renderWarnings(warnings) {
  const box = $("#warnings");
  const unique = [...new Set(warnings)];
  box.hidden = !unique.length;
  box.textContent = unique.length ? `Warnings: ${unique.join(", ")}` : "";
}

function fillList(list, items) {
  list.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      li.textContent = typeof item === "string" ? item : JSON.stringify(item);
      return li;
    }),
  );
}

// ---------------------------------------------------------------- formatting

function formatScore(score) {
  return typeof score === "number" ? score.toFixed(4) : String(score);
}

function formatTimings(timings, roundTripMs) {
  const entries = Object.entries(timings || {}).filter(([name]) => name !== "total");
  const parts = entries.map(([name, ms]) => `${name} ${ms.toFixed(1)} ms`);
  if (timings && typeof timings.total === "number") parts.push(`total ${timings.total.toFixed(1)} ms`);
  if (typeof roundTripMs === "number") parts.push(`round trip ${roundTripMs.toFixed(0)} ms`);
  return parts.join(" · ");
}

function formatSettings(settings) {
  if (!settings) return "";
  return Object.entries(settings)
    .map(([name, s]) => `${name} ${s.value === null ? "none" : s.value} (${s.source})`)
    .join(" · ");
}

function snippet(text) {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > SNIPPET_CHARS ? `${flat.slice(0, SNIPPET_CHARS).trimEnd()}…` : flat;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function setStatus(state, text) {
  const status = $("#status");
  status.dataset.state = state;
  status.textContent = text;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = false;
  setStatus("error", "");
}

function hideError() {
  $("#error").hidden = true;
}

// ---------------------------------------------------------------- start

async function checkService() {
  const state = $("#service-state");
  try {
    const response = await fetch("/v1/health/ready");
    const body = await response.json();
    if (!response.ok) {
      state.textContent = `not ready: ${errorMessage(response.status, body)}`;
      state.className = "bad";
      return;
    }
    const c = body.collection || {};
    const where = c.backend ? `${c.collection}${c.generation !== undefined ? ` · generation ${c.generation}` : ""}` : "no collection";
    state.textContent = `ready · ${where}`;
    state.className = "muted";
  } catch (err) {
    state.textContent = `service unreachable: ${err.message}`;
    state.className = "bad";
  }
}

function start() {
  const key = $("#api-key");
  key.value = sessionStorage.getItem(KEY_STORAGE) || "";
  key.addEventListener("change", () => sessionStorage.setItem(KEY_STORAGE, key.value.trim()));
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  for (const toggle of document.querySelectorAll("input[name=mode], #rerank, #validate")) {
    toggle.addEventListener("change", () => {
      if (searched) run();
    });
  }
  checkService();
  if (loadFromUrl()) run();
}

start();
