// The installer app's script: find/register a household, gateway login with QR code,
// devices by their label id, and the live commissioning check (polls the registry's check).
"use strict";

const PAGE = JSON.parse(document.getElementById("page-data").textContent);
const T = PAGE.t;
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

// What the server said was wrong: FastAPI's list of problems, or one sentence.
function problem(body, response) {
  const detail = body && body.detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${(e.loc || []).filter((x) => x !== "body").join(".")}: ${e.msg}`)
      .join("\n");
  }
  if (typeof detail === "string") return detail;
  return `${T.error} ${response.status}`;
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search);
    throw new Error("signed out");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(problem(data, response));
    error.shown = true;
    throw error;
  }
  return data;
}

// Runs `work`, showing its failure in `box`; `button` is disabled meanwhile.
async function attempt(box, button, work) {
  box.textContent = "";
  if (button) button.disabled = true;
  try {
    return await work();
  } catch (error) {
    box.textContent = error.shown ? error.message : `${T.error}: ${error.message}`;
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

const clock = new Intl.DateTimeFormat(PAGE.lang === "ko" ? "ko-KR" : "en-GB", {
  timeZone: "Asia/Seoul", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});
const seoul = (iso) => (iso ? clock.format(new Date(iso)) : "");

function waited(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  const minutes = Math.floor(seconds / 60);
  if (PAGE.lang === "ko") return minutes ? `${minutes}분 ${seconds % 60}초` : `${seconds}초`;
  return minutes ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
}

function withLang(path) {
  return `${path}?lang=${PAGE.lang}`;
}

// --- /install: find or register a household -------------------------------------------

function findPage() {
  const results = $("results");
  async function search(q) {
    const found = await attempt($("find-error"), null, () =>
      call("GET", `/install/api/households?q=${encodeURIComponent(q)}`));
    if (!found) return;
    $("results-title").textContent = q ? T.search : T.recent;
    results.replaceChildren();
    for (const h of found) {
      const sub = PAGE.lang === "ko"
        ? `${T.dong} ${h.dong} · ${T.gateways_n} ${h.gateways} · ${T.devices_n} ${h.devices}`
        : `${T.dong} ${h.dong} · ${h.gateways} ${T.gateways_n} · ${h.devices} ${T.devices_n}`;
      results.append(el("li", { className: "result" },
        el("a", { href: withLang(`/install/households/${encodeURIComponent(h.id)}`) },
          el("span", { className: "mono", textContent: h.id }),
          el("span", { className: "sub", textContent: sub }))));
    }
    if (!found.length) results.append(el("li", { className: "empty", textContent: T.no_results }));
  }
  $("search-form").onsubmit = (event) => { event.preventDefault(); search($("search").value.trim()); };
  search("");

  const center = $("center");
  const dongSelect = $("dong-select");
  const dongText = $("dong-text");
  function dongs() {
    const chosen = PAGE.centers.find((c) => c.id === center.value);
    const list = chosen ? chosen.dongs : [];
    dongSelect.replaceChildren(...list.map((d) => el("option", { value: d, textContent: d })));
    // A center that lists no dongs: the installer types it.
    dongSelect.hidden = dongSelect.disabled = !list.length;
    dongText.hidden = dongText.disabled = !!list.length;
  }
  center.onchange = dongs;
  dongs();
  $("create-form").onsubmit = async (event) => {
    event.preventDefault();
    const button = event.target.querySelector("button");
    const dong = dongSelect.disabled ? dongText.value.trim() : dongSelect.value;
    const made = await attempt($("create-error"), button, () =>
      call("POST", "/install/api/households", { care_center_id: center.value || null, dong }));
    if (made) location.href = withLang(`/install/households/${encodeURIComponent(made.id)}`);
  };
}

// --- /install/households/{id}: gateway, devices, live check ---------------------------

function householdPage() {
  const household = PAGE.household.id;
  const base = `/install/api/households/${encodeURIComponent(household)}`;
  const rows = new Map();  // device or gateway id -> its <li>, kept across polls

  function showLogin(login) {
    $("login").hidden = false;
    $("gateway-qr").innerHTML = login.qr_svg;  // SVG drawn by our own server (segno)
    $("login-user").textContent = login.gateway_id;
    $("login-password").textContent = login.mqtt_password;
    $("login-broker").textContent = `${login.mqtt_host}:${login.mqtt_port}`;
    $("login").scrollIntoView({ block: "start" });
  }

  $("gateway-form").onsubmit = async (event) => {
    event.preventDefault();
    const id = $("gateway-id").value.trim();
    const login = await attempt($("gateway-error"), $("register-gateway"), () =>
      call("POST", `${base}/gateways`, { gateway_id: id || null }));
    if (login) { $("gateway-id").value = ""; showLogin(login); refresh(); }
  };

  const roomSelect = $("device-room");
  const roomText = $("device-room-text");
  roomSelect.onchange = () => { roomText.hidden = roomSelect.value !== ""; };
  $("device-form").onsubmit = async (event) => {
    event.preventDefault();
    const body = {
      device_id: $("device-id").value.trim(),
      kind: $("device-kind").value,
      room: roomSelect.value || roomText.value.trim() || null,
      source_format: $("device-format").value,
      mqtt_topic: $("device-topic").value.trim() || null,
    };
    const added = await attempt($("device-error"), $("add-device"), () =>
      call("POST", `${base}/devices`, body));
    if (added) {
      $("device-id").value = "";
      $("device-topic").value = "";
      $("device-id").focus();  // the next label to scan
      refresh();
    }
  };

  function hints(template) {
    return $(template).content.firstElementChild.cloneNode(true);
  }

  function deviceActions(device) {
    const box = el("div", { className: "error", role: "alert" });
    const replaceButton = el("button", { type: "button", textContent: T.replace });
    const retireButton = el("button", { type: "button", textContent: T.retire });
    const actions = el("div", { className: "actions" }, replaceButton, retireButton);
    replaceButton.onclick = () => {
      const input = el("input", { placeholder: T.replace_hint, maxLength: 64, autocapitalize: "none",
                                  autocomplete: "off", spellcheck: false });
      input.setAttribute("aria-label", T.replace_hint);
      const go = el("button", { type: "button", className: "danger", textContent: T.replace_do });
      const cancel = el("button", { type: "button", textContent: T.cancel });
      cancel.onclick = () => actions.replaceChildren(replaceButton, retireButton);
      go.onclick = async () => {
        const done = await attempt(box, go, () => call("POST",
          `/install/api/devices/${encodeURIComponent(device.device_id)}/replace`,
          { device_id: input.value.trim() }));
        if (done) refresh();
      };
      actions.replaceChildren(input, go, cancel);
      input.focus();
    };
    retireButton.onclick = () => retireStep(actions, [replaceButton, retireButton], box,
      `/install/api/devices/${encodeURIComponent(device.device_id)}`, refresh);
    return el("div", { className: "more" }, actions, box);
  }

  // Retiring takes two taps instead of confirm(): dialogs are easy to hit by mistake on a
  // phone. `idle` are the buttons `actions` shows again on cancel.
  function retireStep(actions, idle, box, path, done) {
    const sure = el("button", { type: "button", className: "danger", textContent: T.retire_confirm });
    const cancel = el("button", { type: "button", textContent: T.cancel });
    cancel.onclick = () => actions.replaceChildren(...idle);
    sure.onclick = async () => {
      if (await attempt(box, sure, () => call("DELETE", path))) done();
    };
    actions.replaceChildren(sure, cancel);
  }

  function row(list, key, make) {
    let li = rows.get(key);
    if (!li) {
      li = make();
      rows.set(key, li);
    }
    list.append(li);  // keeps the server's order; an existing row only moves
    return li;
  }

  function paint(li, status, firstLine, secondLine) {
    li.classList.remove("ok", "never", "overdue");
    li.classList.add(status);
    li.dataset.status = status;
    li.querySelector(".state").textContent = firstLine;
    li.querySelector(".when").textContent = secondLine;
    const open = status !== "ok";
    li.querySelector(".hints").hidden = !open;
  }

  function stateText(item, since) {
    if (item.status === "never") return [T.waiting, waited(since)];
    const when = `${seoul(item.last_seen_at)}`;
    return [item.status === "ok" ? T.reported : T.silent_since, when];
  }

  function render(check) {
    const gateways = $("gateways");
    const seen = new Set();
    for (const g of check.gateways) {
      seen.add(`gw:${g.gateway_id}`);
      const li = row(gateways, `gw:${g.gateway_id}`, () => {
        const path = `/install/api/gateways/${encodeURIComponent(g.gateway_id)}`;
        const again = el("button", { type: "button", textContent: T.new_password });
        const retire = el("button", { type: "button", textContent: T.retire });
        const actions = el("div", { className: "actions" }, again, retire);
        const box = el("div", { className: "error", role: "alert" });
        again.onclick = async () => {
          const login = await attempt(box, again, () => call("POST", `${path}/password`));
          if (login) showLogin(login);
        };
        retire.onclick = () => retireStep(actions, [again, retire], box, path, () => {
          // Its login, if still on the screen, no longer works.
          if ($("login-user").textContent === g.gateway_id) $("login").hidden = true;
          refresh();
        });
        const item = el("li", { className: "gw" }, el("span", { className: "dot" }),
          el("div", {}, el("span", { className: "name", textContent: `${T.gateway} ` }),
            el("span", { className: "mono", textContent: g.gateway_id }),
            el("span", { className: "sub" }, el("span", { className: "state" }), " ",
              el("span", { className: "when" }))),
          el("div", { className: "more" }, hints("gateway-hints"), actions, box));
        item.dataset.gatewayId = g.gateway_id;
        return item;
      });
      paint(li, g.status, ...stateText(g, g.created_at));
    }
    $("register-gateway").textContent = check.gateways.length ? T.another_gateway : T.register_gateway;

    const devices = $("devices");
    for (const d of check.devices) {
      seen.add(`dev:${d.device_id}`);
      const li = row(devices, `dev:${d.device_id}`, () => {
        const kind = PAGE.kinds[d.kind] || d.kind;
        const room = d.room ? PAGE.room_names[d.room] || d.room : "";  // stored in Korean
        const item = el("li", { className: "device" }, el("span", { className: "dot" }),
          el("div", {}, el("span", { className: "name", textContent: room ? `${kind} · ${room}` : kind }),
            el("span", { className: "sub mono", textContent: d.device_id }),
            el("span", { className: "sub" }, el("span", { className: "state" }), " ",
              el("span", { className: "when" }))),
          el("div", { className: "more" }, hints("grey-hints")), deviceActions(d));
        item.dataset.deviceId = d.device_id;
        return item;
      });
      paint(li, d.status, ...stateText(d, d.installed_at));
    }
    for (const [key, li] of rows) {
      if (!seen.has(key)) { li.remove(); rows.delete(key); }
    }
    const waiting = check.devices.filter((d) => d.status === "never").length;
    const summary = $("summary");
    summary.classList.toggle("done", check.ok);
    if (!check.devices.length) summary.textContent = T.no_devices;
    else if (check.ok) summary.textContent = T.all_green;
    else summary.textContent = PAGE.lang === "ko"
      ? `${check.devices.length}대 중 ${waiting}${T.n_waiting}`
      : `${waiting} of ${check.devices.length} ${T.n_waiting}`;
    summary.dataset.ok = String(check.ok);
  }

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    if (document.hidden) return;  // a phone in the pocket: no polling until it is back
    try {
      render(await call("GET", `${base}/check`));
      $("check-error").textContent = "";
    } catch (error) {
      $("check-error").textContent = error.shown ? error.message : T.connection_lost;
    }
    timer = setTimeout(refresh, PAGE.poll_ms);
  }
  document.addEventListener("visibilitychange", refresh);
  refresh();
}

if (PAGE.household) householdPage();
else if (PAGE.centers) findPage();
