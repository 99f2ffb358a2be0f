// inboxtrail Explorer page: plain browser JavaScript, no build step, no CDN.
// Facets, their symbols and the chart pivots come from /openapi.json, the API's own description,
// so the page offers exactly the filters the server accepts.
"use strict";

const TOKEN_KEY = "inboxtrail.token";
const WORDS = {  // Avro symbols → the analyst's words (VOCABULARY.md)
  Inbox: "Inbox/folder", OnPremExternal: "On-prem/external", Junk: "Junk folder", DeletedItems: "Deleted items folder",
  SoftDeleted: "Soft-deleted", Zap: "ZAP", ManualRemediation: "Manual remediation",
  AutomatedRemediation: "Automated remediation", QuarantineRelease: "Quarantine release",
  DynamicDelivery: "Dynamic delivery", IntraOrg: "Intra-org", MoveToJunk: "Move to junk", MoveToInbox: "Move to inbox",
  MoveToDeletedItems: "Move to deleted items", SoftDelete: "Soft delete", HardDelete: "Hard delete",
  AlreadyInDestination: "Already in destination", NotActionable: "Not actionable", NotFound: "Not found in mailbox",
  InProgress: "In progress", "": "(none)",
};
const COLORS = ["#2f6fdd", "#d9822b", "#2e9f62", "#c23b3b", "#7d53c7", "#8a8a8a", "#1b9aaa", "#b8860b", "#e05fa6", "#556b2f"];
const $ = (id) => document.getElementById(id);
const word = (symbol) => (symbol in WORDS ? WORDS[symbol] : String(symbol));

const state = {
  me: null, facets: {}, pivots: [], filters: [], sort: "received_at", order: "desc", cursor: null,
  rows: new Map(), selected: new Set(), open: null,
};

// -- API -----------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? `${body.parameter ? body.parameter + ": " : ""}${body.detail}` : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, ...(options.headers || {}),
               ...(options.body ? { "Content-Type": "application/json" } : {}) },
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken("The token was not accepted; paste a valid one.");
    throw new ApiError(401, null);
  }
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, body);
  }
  return response;
}
const getJson = async (path) => (await api(path)).json();

function query(extra = {}) {
  const params = new URLSearchParams();
  for (const { name, value } of state.filters) params.append(name, value);
  const subject = $("subject").value.trim();
  if (subject) params.set("subject", subject);
  for (const [id, name] of [["received-from", "received_from"], ["received-to", "received_to"]]) {
    if ($(id).value) params.set(name, new Date($(id).value).toISOString());
  }
  for (const [name, value] of Object.entries(extra)) if (value !== null && value !== undefined) params.set(name, value);
  return params;
}

async function download(path, filename) {
  const blob = await (await api(path)).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// -- sign-in -------------------------------------------------------------------------------
function askForToken(message) {
  $("token-error").hidden = !message;
  $("token-error").textContent = message || "";
  $("explorer").hidden = true;
  if (!$("token-dialog").open) $("token-dialog").showModal();
  $("token-input").focus();
}

async function signIn() {
  try {
    state.me = await getJson("/api/v1/me");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) showError(error);
    return;
  }
  $("token-dialog").close();
  $("who").textContent = `${state.me.user} · tenant ${state.me.tenant_id} · ${state.me.role}`;
  $("sign-out").hidden = false;
  for (const element of document.querySelectorAll("[data-needs]")) {
    element.hidden = !state.me.permissions.includes(element.dataset.needs);
  }
  $("explorer").hidden = false;
  await loadDescription();
  await refresh();
}

async function loadDescription() {
  if (state.pivots.length) return;
  const description = await (await fetch("/openapi.json")).json();
  const list = description.paths["/api/v1/emails"].get.parameters;
  const paging = new Set(["sort", "order", "limit", "cursor", "format", "subject", "received_from", "received_to"]);
  for (const parameter of list) {
    if (parameter.name.startsWith("not_") || paging.has(parameter.name)) continue;
    const schema = parameter.schema.items || parameter.schema;
    state.facets[parameter.name] = { symbols: schema.enum || null, integer: schema.type === "integer" };
  }
  const chart = description.paths["/api/v1/chart"].get.parameters.find((p) => p.name === "pivot");
  state.pivots = chart.schema.enum;
  $("facet").replaceChildren(...Object.keys(state.facets).map((name) => new Option(name.replaceAll("_", " "), name)));
  $("pivot").replaceChildren(...state.pivots.map((name) => new Option(name.replaceAll("_", " "), name)));
  $("pivot").value = "delivery_action";
  $("facet").value = "threat_type";
  facetChanged();
}

function facetChanged() {
  const facet = state.facets[$("facet").value];
  $("facet-values").replaceChildren(...(facet.symbols || []).map((symbol) => new Option(word(symbol), symbol)));
}

// -- filters -------------------------------------------------------------------------------
function addFilter(name, value) {
  if (!value || state.filters.some((f) => f.name === name && f.value === value)) return;
  state.filters.push({ name, value });
  renderChips();
  refresh();
}

function renderChips() {
  $("chips").replaceChildren(...state.filters.map((filter, index) => {
    const chip = document.createElement("li");
    const negated = filter.name.startsWith("not_");
    const facet = negated ? filter.name.slice(4) : filter.name;
    chip.textContent = `${facet.replaceAll("_", " ")} ${negated ? "≠" : "="} ${word(filter.value)} `;
    chip.dataset.filter = `${filter.name}=${filter.value}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove filter ${filter.name} ${filter.value}`);
    remove.onclick = () => { state.filters.splice(index, 1); renderChips(); refresh(); };
    chip.append(remove);
    return chip;
  }));
}

function showError(error) {
  $("filter-error").hidden = false;
  $("filter-error").textContent = error.message;
}

async function refresh() {
  $("filter-error").hidden = true;
  state.cursor = null;
  state.rows.clear();
  state.selected.clear();
  $("emails").querySelector("tbody").replaceChildren();
  try {
    await Promise.all([loadChart(), loadEmails()]);
  } catch (error) {
    showError(error);
  }
}

// -- chart -------------------------------------------------------------------------------------
async function loadChart() {
  const pivot = $("pivot").value;
  const chart = await getJson(`/api/v1/chart?${query({ pivot, interval: $("interval").value })}`);
  const buckets = [...new Set(chart.series.flatMap((s) => s.points.map((p) => p.start)))].sort();
  const totals = buckets.map((start) => chart.series.reduce(
    (sum, s) => sum + (s.points.find((p) => p.start === start)?.emails || 0), 0));
  const highest = Math.max(1, ...totals);
  const svg = $("chart");
  const ns = "http://www.w3.org/2000/svg";
  const width = 900, height = 200, gap = 2;
  const barWidth = buckets.length ? Math.min(48, Math.max(2, width / buckets.length - gap)) : 0;
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 12));
  const shapes = [];
  buckets.forEach((start, index) => {
    let y = height;
    chart.series.forEach((series, seriesIndex) => {
      const emails = series.points.find((p) => p.start === start)?.emails || 0;
      if (!emails) return;
      const barHeight = (emails / highest) * (height - 10);
      y -= barHeight;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", index * (barWidth + gap));
      rect.setAttribute("y", y);
      rect.setAttribute("width", barWidth);
      rect.setAttribute("height", barHeight);
      rect.setAttribute("fill", COLORS[seriesIndex % COLORS.length]);
      const title = document.createElementNS(ns, "title");
      title.textContent = `${start.slice(0, 16).replace("T", " ")} · ${word(series.value)}: ${emails}`;
      rect.append(title);
      shapes.push(rect);
    });
    if (index % labelEvery === 0) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", index * (barWidth + gap));
      label.setAttribute("y", height + 14);
      label.setAttribute("class", "tick");
      label.textContent = $("interval").value === "hour" ? start.slice(5, 13).replace("T", " ") + "h" : start.slice(5, 10);
      shapes.push(label);
    }
  });
  svg.replaceChildren(...shapes);
  $("legend").replaceChildren(...chart.series.map((series, index) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.value = series.value;
    button.style.setProperty("--swatch", COLORS[index % COLORS.length]);
    button.textContent = `${word(series.value)} (${series.total})`;
    button.title = `Filter: ${pivot.replaceAll("_", " ")} = ${word(series.value)}`;
    button.onclick = () => addFilter(pivot, series.value);  // pivots are facets of the same name
    item.append(button);
    return item;
  }));
}

// -- email list ------------------------------------------------------------------------------
function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function loadEmails() {
  const page = await getJson(`/api/v1/emails?${query({ sort: state.sort, order: state.order, limit: 100,
                                                       cursor: state.cursor })}`);
  const body = $("emails").querySelector("tbody");
  for (const email of page.emails) {
    const key = `${email.network_message_id}/${email.recipient}`;
    state.rows.set(key, email);
    const row = document.createElement("tr");
    row.dataset.key = key;
    const check = document.createElement("input");
    check.type = "checkbox";
    check.setAttribute("aria-label", `Select ${email.subject} to ${email.recipient}`);
    check.onchange = () => { check.checked ? state.selected.add(key) : state.selected.delete(key); selectionChanged(); };
    const box = document.createElement("td");
    box.append(check);
    const subject = document.createElement("td");
    const open = document.createElement("a");
    open.href = "#";
    open.className = "subject";
    open.textContent = email.subject || "(no subject)";
    open.onclick = (event) => { event.preventDefault(); openDetails(email.network_message_id, email.recipient); };
    subject.append(open);
    row.append(box, cell(email.received_at.slice(0, 19).replace("T", " ")), subject, cell(email.recipient),
               cell(email.sender_from_address), cell(email.sender_domain), cell(word(email.delivery_action)),
               cell(word(email.original_location)), cell(word(email.latest_location), "latest-location"),
               cell(email.additional_actions.map(word).join(", ")), cell(email.threat_types.join(", ")));
    body.append(row);
  }
  state.cursor = page.next_cursor;
  $("more").hidden = !state.cursor;
  $("count").textContent = `${state.rows.size}${state.cursor ? "+" : ""} email copies`;
  selectionChanged();
}

function selectionChanged() {
  $("take-action").disabled = state.selected.size === 0;
  $("take-action").textContent = state.selected.size ? `Take action (${state.selected.size})` : "Take action";
}

// -- details and timeline ------------------------------------------------------------------
function definitionList(pairs) {
  const list = document.createElement("dl");
  for (const [term, value] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = Array.isArray(value) ? value.map(word).join(", ") || "—" : (value === "" || value === null ? "—" : word(value));
    list.append(dt, dd);
  }
  return list;
}

function heading(text) {
  const h = document.createElement("h3");
  h.textContent = text;
  return h;
}

async function openDetails(networkMessageId, recipient) {
  state.open = { networkMessageId, recipient };
  const path = `/api/v1/emails/${encodeURIComponent(networkMessageId)}/${encodeURIComponent(recipient)}`;
  const { email, similar } = await getJson(path);
  $("details").hidden = false;
  $("details-subject").textContent = email.subject || "(no subject)";
  const similarList = document.createElement("ul");
  for (const other of similar) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#";
    link.textContent = `${other.received_at.slice(0, 16).replace("T", " ")} · ${other.subject} → ${other.recipient}`;
    link.onclick = (event) => { event.preventDefault(); openDetails(other.network_message_id, other.recipient); };
    item.append(link);
    similarList.append(item);
  }
  $("panel-details").replaceChildren(
    heading("Delivery details"),
    definitionList([["Original delivery action", email.delivery_action], ["Original location", email.original_location],
                    ["Latest delivery action", email.latest_delivery_action], ["Latest location", email.latest_location],
                    ["Additional actions", email.additional_actions], ["Threats", email.threat_types],
                    ["Detection technologies", email.detection_methods]]),
    heading("Email details"),
    definitionList([["Received", email.received_at], ["Recipient", email.recipient],
                    ["Sender (from)", email.sender_from_address], ["Sender (mail from)", email.sender_mail_from],
                    ["Display name", email.sender_display_name], ["Sender IP", email.sender_ip],
                    ["Direction", email.direction], ["Internet message id", email.internet_message_id],
                    ["Network message id", email.network_message_id], ["Size (bytes)", String(email.size_bytes)]]),
    heading(`URLs (${email.urls.length})`),
    definitionList(email.urls.map((u, i) => [`#${i + 1}`, u.url])),
    heading(`Attachments (${email.attachments.length})`),
    definitionList(email.attachments.map((a) => [a.file_name, `${a.file_type} · ${a.size} bytes · SHA-256 ${a.sha256}`])),
    heading(`Similar emails (${similar.length})`), similarList,
  );
  $("panel-details").querySelector("dl").dataset.latestLocation = email.latest_location;
  await loadTimeline();
}

async function loadTimeline() {
  const { networkMessageId, recipient } = state.open;
  const params = new URLSearchParams({ recipient });
  const { events } = await getJson(`/api/v1/emails/${encodeURIComponent(networkMessageId)}/timeline?${params}`);
  $("timeline").querySelector("tbody").replaceChildren(...events.map((event) => {
    const row = document.createElement("tr");
    const details = [event.actor && `by ${event.actor}`, event.request_id && `request ${event.request_id}`,
                     event.details && event.details.reason].filter(Boolean).join(" · ");
    row.append(cell(event.time.slice(0, 19).replace("T", " ")), cell(event.recipient), cell(event.source),
               cell(event.type), cell(word(event.action)), cell(word(event.result)), cell(word(event.to_location)),
               cell(event.threat_types.join(", ")), cell(details));
    return row;
  }));
}

function showTab(name) {
  for (const tab of ["details", "timeline"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
}

// -- take action ---------------------------------------------------------------------------
async function takeAction() {
  const reason = $("reason").value.trim();
  if (!reason) {
    $("action-status").textContent = "Give a reason: every action is audited.";
    $("reason").focus();
    return;
  }
  const targets = [...state.selected].map((key) => {
    const email = state.rows.get(key);
    return { network_message_id: email.network_message_id, recipient: email.recipient };
  });
  const action = $("action").value;
  try {
    const status = await (await api("/api/v1/remediations", {
      method: "POST", body: JSON.stringify({ action, reason, targets }) })).json();
    $("action-status").dataset.requestId = status.request_id;
    await followRequest(status);
  } catch (error) {
    $("action-status").textContent = `Not submitted: ${error.message}`;
  }
}

async function followRequest(status) {
  const describe = (s) => `${word(s.action)}: ${word(s.state)}` +
    (Object.keys(s.counts).length ? ` · ${Object.entries(s.counts).map(([r, n]) => `${word(r)} ${n}`).join(", ")}` : "") +
    (s.state === "Proposed" ? " · waiting for approval by another admin" : "");
  $("action-status").textContent = describe(status);
  for (let i = 0; i < 120 && !["Completed", "Failed", "Proposed"].includes(status.state); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    status = await getJson(`/api/v1/remediations/${encodeURIComponent(status.request_id)}`);
    $("action-status").textContent = describe(status);
  }
  await refresh();
  if (state.open) await openDetails(state.open.networkMessageId, state.open.recipient);
}

// -- wiring ----------------------------------------------------------------------------------
function wire() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    signIn();
  });
  $("sign-out").onclick = () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); };
  $("facet").onchange = facetChanged;
  $("add-filter").onclick = () => addFilter($("facet-mode").value + $("facet").value, $("facet-value").value.trim());
  $("facet-value").addEventListener("keydown", (event) => { if (event.key === "Enter") $("add-filter").click(); });
  for (const id of ["apply", "pivot", "interval"]) $(id).addEventListener(id === "apply" ? "click" : "change", refresh);
  $("subject").addEventListener("keydown", (event) => { if (event.key === "Enter") refresh(); });
  $("more").onclick = () => loadEmails().catch(showError);
  for (const header of document.querySelectorAll("th[data-sort]")) {
    header.onclick = () => {
      state.order = state.sort === header.dataset.sort && state.order === "desc" ? "asc" : "desc";
      state.sort = header.dataset.sort;
      refresh();
    };
  }
  $("select-all").onchange = () => {
    for (const box of $("emails").querySelectorAll("tbody input[type=checkbox]")) {
      box.checked = $("select-all").checked;
      box.dispatchEvent(new Event("change"));
    }
  };
  $("take-action").onclick = takeAction;
  $("export-list").onclick = () => download(`/api/v1/emails?${query({ format: "csv" })}`, "emails.csv").catch(showError);
  $("export-timeline").onclick = () => {
    const { networkMessageId } = state.open;
    download(`/api/v1/emails/${encodeURIComponent(networkMessageId)}/timeline?format=csv`,
             `timeline-${networkMessageId}.csv`).catch(showError);
  };
  $("close-details").onclick = () => { $("details").hidden = true; state.open = null; };
  $("tab-details").onclick = () => showTab("details");
  $("tab-timeline").onclick = () => showTab("timeline");
}

wire();
if (sessionStorage.getItem(TOKEN_KEY)) signIn(); else askForToken();
