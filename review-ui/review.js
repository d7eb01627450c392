// The review console's page: plain DOM, no framework. Everything that comes from agents, devices or
// script output is set with textContent, never parsed as HTML.
"use strict";
/* global document, window, fetch, EventSource, URLSearchParams */

(() => {
  const state = { csrf: "", requests: [], cards: new Map(), outputs: new Map(), seenOutcomes: null };
  const $ = (id) => document.getElementById(id);

  /** An element with text and children; attributes are set one by one, never as markup. */
  function el(tag, options = {}, children = []) {
    const node = document.createElement(tag);
    if (options.text !== undefined) node.textContent = String(options.text);
    if (options.className) node.className = options.className;
    for (const [name, value] of Object.entries(options.attrs ?? {})) node.setAttribute(name, String(value));
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function announce(message) {
    const region = $("announcer");
    region.textContent = "";
    // A fresh text node makes screen readers read it even when it repeats.
    window.setTimeout(() => (region.textContent = message), 50);
  }

  const when = (iso) => new Date(iso).toLocaleString();

  async function api(path, init = {}) {
    const response = await fetch(path, { credentials: "same-origin", ...init });
    if (response.status === 401) {
      showSignIn("Your session ended: sign in again.");
      throw new Error("signed out");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message ?? `the server answered ${response.status}`);
    return body;
  }

  function post(path, body) {
    return api(path, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": state.csrf },
      body: JSON.stringify(body),
    });
  }

  function showSignIn(message) {
    $("app").hidden = true;
    $("who").hidden = true;
    $("signin").hidden = false;
    const error = $("signin-error");
    error.hidden = !message;
    error.textContent = message ?? "";
  }

  // ---- requests ----

  function field(list, name, value, valueNode) {
    list.append(el("dt", { text: name }), el("dd", { text: valueNode ? undefined : value }, [valueNode]));
  }

  function devicesTable(devices) {
    const head = el(
      "tr",
      {},
      ["Name", "OS", "Health", "Device id"].map((h) => el("th", { text: h, attrs: { scope: "col" } })),
    );
    const rows = devices.map((d) =>
      el("tr", {}, [
        el("td", { text: d.name ?? "(name unknown)" }),
        el("td", { text: d.os ?? "unknown" }),
        el("td", { text: d.health ?? "unknown" }),
        el("td", {}, [el("code", { text: d.id })]),
      ]),
    );
    return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, rows)]);
  }

  function commandList(commands) {
    return el(
      "ol",
      {},
      commands.map((c) =>
        el("li", {}, [
          el("strong", { text: c.type }),
          document.createTextNode(" "),
          el("code", { text: c.target }),
          c.args ? document.createTextNode(" with args ") : null,
          c.args ? el("code", { text: c.args, className: "args" }) : null,
        ]),
      ),
    );
  }

  function decisionText(decision) {
    return decision ? `${decision.reviewer} at ${when(decision.at)}: “${decision.reason}”` : "";
  }

  function similarBlock(similar) {
    if (!similar) return null;
    const diff = el(
      "pre",
      { className: "diff", attrs: { "aria-label": "Differences from the earlier request" } },
      similar.diff.map((line) =>
        el("span", {
          className: line.op,
          text: `${line.op === "added" ? "+ " : line.op === "removed" ? "- " : "  "}${line.text}`,
        }),
      ),
    );
    const outcome = similar.status === "submitted" ? "approved and run" : similar.status;
    const decided = similar.decision ? `, ${outcome} by ${decisionText(similar.decision)}` : `, ${outcome}`;
    return el("div", { className: "similar" }, [
      el("h4", { text: "Resembles an earlier request" }),
      el("p", {
        text: `${similar.id} (${when(similar.created_at)}${decided}); similarity ${Math.round(similar.similarity * 100)}%. Lines marked + are new in this request, - were in the earlier one.`,
      }),
      diff,
    ]);
  }

  function decisionForm(request) {
    const reasonId = `reason-${request.id}`;
    const errorId = `error-${request.id}`;
    const reason = el("textarea", {
      attrs: { id: reasonId, rows: 2, required: "", "aria-describedby": errorId },
    });
    const error = el("p", { className: "error", attrs: { id: errorId, role: "alert" } });
    const approve = el("button", { text: "Approve", className: "approve", attrs: { type: "button" } });
    const deny = el("button", { text: "Deny", className: "deny", attrs: { type: "button" } });
    const decide = async (approved) => {
      const text = reason.value.trim();
      if (text === "") {
        error.textContent = "Give a reason for your decision.";
        reason.focus();
        return;
      }
      approve.disabled = deny.disabled = true;
      error.textContent = "";
      try {
        await post(`/review/api/requests/${encodeURIComponent(request.id)}/decision`, {
          approve: approved,
          reason: text,
          payload_sha256: request.payload_sha256,
        });
        announce(`You ${approved ? "approved" : "denied"} request ${request.id}`);
        await loadRequests();
      } catch (e) {
        error.textContent = e.message;
        approve.disabled = deny.disabled = false;
      }
    };
    approve.addEventListener("click", () => void decide(true));
    deny.addEventListener("click", () => void decide(false));
    return el("div", { className: "decide" }, [
      el("label", { text: "Reason for your decision (required)", attrs: { for: reasonId } }),
      reason,
      el("div", {}, [approve, deny]),
      error,
    ]);
  }

  function requestCard(request) {
    const headingId = `heading-${request.id}`;
    const facts = el("dl");
    field(facts, "Request", request.id);
    field(facts, "Requester", `${request.requester} (${request.client})`);
    field(facts, "Requested", when(request.created_at));
    field(facts, request.status === "approved" ? "Approval expires" : "Expires", when(request.expires_at));
    field(facts, "Needs approval because", `${request.policy_note.rule}: ${request.policy_note.reason}`);
    field(facts, "Two-person rule", request.two_person ? "on: the requester cannot approve it" : "off");
    field(facts, "Payload SHA-256", undefined, el("code", { text: request.payload_sha256 }));
    if (request.decision) {
      const verb = request.status === "denied" ? "denied" : "approved";
      field(facts, "Decision", `${verb} by ${decisionText(request.decision)}`);
    }
    return el(
      "article",
      {
        className: `card${request.status === "pending" ? "" : " closed"}`,
        attrs: { "aria-labelledby": headingId, "data-request-id": request.id, "data-status": request.status },
      },
      [
        el("h3", { attrs: { id: headingId } }, [
          document.createTextNode(`Request from ${request.requester} on ${request.devices.length} device(s)`),
          el("span", { className: `status status-${request.status}`, text: request.status }),
        ]),
        facts,
        el("h4", { text: "Devices" }),
        devicesTable(request.devices),
        el("h4", { text: "Commands" }),
        commandList(request.commands),
        el("h4", { text: "The agent's comment" }),
        el("pre", { className: "comment", text: request.comment }),
        similarBlock(request.similar),
        request.status === "pending" ? decisionForm(request) : null,
      ],
    );
  }

  /** Puts the cards in order without touching those already in place, so a reason being typed stays. */
  function place(container, cards) {
    const wanted = new Set(cards);
    for (const child of [...container.children]) if (!wanted.has(child)) child.remove();
    cards.forEach((card, i) => {
      if (container.children[i] !== card) container.insertBefore(card, container.children[i] ?? null);
    });
  }

  async function loadRequests() {
    const { requests } = await api("/review/api/requests");
    const cards = new Map();
    for (const request of requests) {
      const key = `${request.id}:${request.status}:${request.similar?.id ?? ""}`;
      const existing = state.cards.get(key);
      cards.set(key, { request, card: existing?.card ?? requestCard(request) });
    }
    state.cards = cards;
    const all = [...cards.values()];
    const pending = all.filter((c) => c.request.status === "pending").map((c) => c.card);
    place($("request-list"), pending);
    place(
      $("closed-list"),
      all.filter((c) => c.request.status !== "pending").map((c) => c.card),
    );
    $("requests-empty").hidden = pending.length > 0;
  }

  // ---- history ----

  function outputBlock(key) {
    const output = state.outputs.get(key);
    if (!output) return null;
    if (output.error) return el("p", { className: "error", text: output.error });
    return el("div", {}, [
      el("p", {
        text: `exit code ${output.exit_code ?? "unknown"}${output.truncated ? "; first 20,000 characters" : ""}`,
      }),
      el("pre", { className: "output", text: output.output }),
      output.errors ? el("pre", { className: "output errors", text: output.errors }) : null,
    ]);
  }

  function commandOutcome(entry, action, outcome) {
    const command = entry.commands[outcome.index];
    const key = `${action.action_id}:${outcome.index}`;
    const hashes = outcome.artifacts.map((a) => `${a.name}: SHA-256 ${a.sha256} (${a.bytes} bytes)`);
    const item = el("li", {}, [
      el("span", {
        text: `command ${outcome.index + 1}${command ? ` ${command.type}` : ""}${outcome.exit_code === null ? "" : `, exit code ${outcome.exit_code}`}`,
      }),
      el(
        "ul",
        {},
        hashes.map((h) => el("li", {}, [el("code", { text: h })])),
      ),
    ]);
    if (command?.type === "RunScript" && action.action_id) {
      const show = el("button", {
        text: `Show output of command ${outcome.index + 1}`,
        attrs: { type: "button" },
      });
      show.addEventListener("click", async () => {
        show.disabled = true;
        try {
          const params = new URLSearchParams({
            action_id: action.action_id,
            command_index: String(outcome.index),
          });
          state.outputs.set(key, await api(`/review/api/output?${params}`));
        } catch (e) {
          state.outputs.set(key, { error: e.message });
        }
        await loadHistory();
      });
      item.append(state.outputs.has(key) ? outputBlock(key) : show);
    }
    return item;
  }

  function historyCard(entry) {
    const approval = entry.approval;
    const decision = !approval
      ? "no approval needed"
      : approval.state === "requested"
        ? "approval requested, no decision yet"
        : `${approval.state === "given" ? "approved" : `refused (${approval.response})`}${approval.reviewer ? ` by ${approval.reviewer}` : ""}${approval.reason ? `: “${approval.reason}”` : ""}`;
    const rows = entry.actions.map((action) => {
      const machine = entry.machines.find((m) => m.id === action.machine_id);
      const status = action.status ?? "in progress";
      return el("tr", { attrs: { "data-action-id": action.action_id ?? "" } }, [
        el("td", { text: machine?.name ?? action.machine_id }),
        el("td", {}, [el("code", { text: action.action_id ?? "none" })]),
        el("td", {}, [el("span", { className: `status status-${status}`, text: status })]),
        el("td", {}, [
          el(
            "ul",
            {},
            [...action.commands]
              .sort((a, b) => a.index - b.index)
              .map((o) => commandOutcome(entry, action, o)),
          ),
        ]),
      ]);
    });
    const head = el(
      "tr",
      {},
      ["Device", "Action", "Status", "Results"].map((h) => el("th", { text: h, attrs: { scope: "col" } })),
    );
    return el("article", { className: "card", attrs: { "data-history-id": entry.request_id } }, [
      el("h3", { text: `${entry.tool} by ${entry.requester}, ${when(entry.time)}` }),
      el("p", {}, [el("strong", { text: "Decision: " }), document.createTextNode(decision)]),
      el("p", { className: "muted", text: `Comment: ${entry.comment}` }),
      rows.length > 0
        ? el("table", {}, [el("thead", {}, [head]), el("tbody", {}, rows)])
        : el("p", { className: "muted", text: "Nothing was sent to Defender." }),
    ]);
  }

  async function loadHistory() {
    const { history, entries } = await api("/review/api/history");
    $("history-note").textContent = history
      ? "Decisions and outcomes from the audit log, newest first."
      : "No audit log (MDE_AUDIT_LOG), so there is no history to show.";
    const outcomes = new Map();
    for (const entry of entries) {
      for (const action of entry.actions) {
        if (action.action_id && action.status) outcomes.set(action.action_id, `${action.status}`);
      }
    }
    if (state.seenOutcomes) {
      for (const [id, status] of outcomes) {
        if (state.seenOutcomes.get(id) !== status) announce(`Action ${id} finished: ${status}`);
      }
    }
    state.seenOutcomes = outcomes;
    $("history-list").replaceChildren(...entries.map(historyCard));
  }

  // ---- start ----

  function listen() {
    const events = new EventSource("/review/api/events");
    events.addEventListener("requests", (event) => {
      announce(JSON.parse(event.data).message);
      void loadRequests().catch(() => {});
    });
    events.addEventListener("history", () => void loadHistory().catch(() => {}));
    events.addEventListener("error", () => {
      // A stream that failed for good usually means the session ended.
      if (events.readyState === EventSource.CLOSED) void api("/review/api/session").catch(() => {});
    });
  }

  async function start() {
    const params = new URLSearchParams(window.location.search);
    const failed = {
      key: "That reviewer key was not accepted.",
      link: "That sign-in link was already used or has expired.",
    }[params.get("signin") ?? ""];
    const response = await fetch("/review/api/session", { credentials: "same-origin" });
    if (!response.ok) {
      const { sign_in_links: links = [] } = await response.json().catch(() => ({}));
      $("signin-links").replaceChildren(
        ...links.map((link) => el("li", {}, [el("a", { text: link.label, attrs: { href: link.path } })])),
      );
      showSignIn(failed);
      return;
    }
    const session = await response.json();
    state.csrf = session.csrf_token;
    $("reviewer-name").textContent = session.reviewer;
    $("who").hidden = false;
    $("signin").hidden = true;
    $("app").hidden = false;
    $("signout").addEventListener("click", async () => {
      await post("/review/signout", {}).catch(() => {});
      window.location.assign("/review");
    });
    await Promise.all([loadRequests(), loadHistory()]);
    listen();
    document.body.dataset.ready = "true";
  }

  void start();
})();
