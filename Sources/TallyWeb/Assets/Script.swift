import Crypto
import Foundation

/// The dashboard's only script: theme toggle, auto-submitting filters, copy buttons, forms that call the JSON API
/// (field errors beside their fields), and the live events feed. Pages work without it except where noted.
package enum Script {
    /// Runs in the head before the first paint, so a chosen theme never flashes the other one. Inline, so the
    /// Content-Security-Policy allows it by its hash (`themeBootHash`), computed from this exact text.
    package static let themeBoot = """
        try{var t=localStorage.getItem("tally-theme");if(t==="light"||t==="dark")document.documentElement.dataset.theme=t}catch(e){}
        """

    /// The CSP source allowing `themeBoot`: `'sha256-…'` of its bytes, base64.
    package static let themeBootHash =
        "'sha256-" + Data(SHA256.hash(data: Data(themeBoot.utf8))).base64EncodedString() + "'"

    package static let js = #"""
        "use strict";
        (function () {
          const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
          const $ = (sel, root) => (root || document).querySelector(sel);
          const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

          // Theme: follows the system until the person picks one; the choice is kept in localStorage.
          function currentTheme() {
            const chosen = document.documentElement.dataset.theme;
            if (chosen) return chosen;
            return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
          }
          function labelToggle(button) {
            const next = currentTheme() === "dark" ? "light" : "dark";
            button.setAttribute("aria-label", "Switch to " + next + " theme");
            button.textContent = next === "dark" ? "Dark theme" : "Light theme";
          }
          const toggle = $("#theme-toggle");
          if (toggle) {
            labelToggle(toggle);
            toggle.addEventListener("click", () => {
              const next = currentTheme() === "dark" ? "light" : "dark";
              document.documentElement.dataset.theme = next;
              try { localStorage.setItem("tally-theme", next); } catch (e) {}
              labelToggle(toggle);
            });
          }

          // The organization switcher: picking one switches (the Content-Security-Policy forbids inline handlers).
          $$("select[data-submit-on-change]").forEach((select) => select.addEventListener("change", () => select.form.submit()));

          // Filters: a changed select submits its form, so the URL (the page's state) follows at once.
          $$("form[data-autosubmit] select").forEach((select) => {
            select.addEventListener("change", () => {
              const form = select.form;
              const custom = form.querySelector('[name="preset"]');
              if (select.name === "preset" && custom && custom.value === "custom") { form.querySelector('[name="from"]').focus(); return; }
              form.requestSubmit();
            });
          });
          // Back/forward may restore a page with the fields as they were last typed: put them back to what the URL says.
          window.addEventListener("pageshow", () => $$("form[data-autosubmit]").forEach((form) => form.reset()));
          // Picking a date means a custom range.
          $$("form[data-autosubmit] input[type=date]").forEach((input) => {
            input.addEventListener("change", () => {
              const preset = input.form.querySelector('[name="preset"]');
              if (preset && input.value) preset.value = "custom";
            });
          });
          // Leave empty fields out of the URL, so links stay short and readable.
          $$("form[data-autosubmit]").forEach((form) => form.addEventListener("submit", () => {
            $$("input,select", form).forEach((el) => { if (!el.value) el.disabled = true; });
            setTimeout(() => $$("input,select", form).forEach((el) => { el.disabled = false; }), 0);
          }));

          async function copy(text, button) {
            try { await navigator.clipboard.writeText(text); }
            catch (e) {
              const area = document.createElement("textarea");
              area.value = text; document.body.appendChild(area); area.select();
              document.execCommand("copy"); area.remove();
            }
            const old = button.textContent; button.textContent = "Copied"; setTimeout(() => { button.textContent = old; }, 1500);
          }
          document.addEventListener("click", (event) => {
            const button = event.target.closest("button.copy");
            if (!button) return;
            const target = document.getElementById(button.dataset.copyTarget);
            if (target) copy(target.textContent, button);
          });

          // Calls to the JSON API with the session's CSRF token. Answers: {ok, status, body}.
          async function api(method, path, body) {
            const init = { method, headers: { "X-CSRF-Token": csrf(), "Accept": "application/json" }, credentials: "same-origin" };
            if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
            let response;
            try { response = await fetch(path, init); }
            catch (e) { return { ok: false, status: 0, body: { error: { message: "Tally could not be reached; check your connection and try again." } } }; }
            let data = null;
            const text = await response.text();
            if (text) { try { data = JSON.parse(text); } catch (e) { data = { error: { message: text.slice(0, 200) } }; } }
            return { ok: response.ok, status: response.status, body: data };
          }
          window.tallyAPI = api;

          // data-kind of a text field: "int" a number, "list" comma-separated names, "ints" comma-separated numbers.
          const fieldKinds = {
            int: Number,
            list: (v) => v.split(",").map((s) => s.trim()).filter((s) => s !== ""),
            ints: (v) => v.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number),
          };

          function formBody(form) {
            const body = {};
            $$("input,select,textarea", form).forEach((el) => {
              if (!el.name || el.name === "_csrf" || el.disabled) return;
              if (el.type === "checkbox") {
                if (el.dataset.kind === "bool") { body[el.name] = el.checked; return; }
                body[el.name] = body[el.name] || [];
                if (el.checked) body[el.name].push(el.value);
                return;
              }
              const value = el.value.trim();
              if (value === "") return;
              // "prices.input" fills {"prices": {"input": …}}, as the API's nested fields are named.
              const path = el.name.split(".");
              let target = body;
              path.slice(0, -1).forEach((key) => { target = target[key] = target[key] || {}; });
              target[path[path.length - 1]] = (fieldKinds[el.dataset.kind] || String)(value);
            });
            return body;
          }

          function showErrors(form, result) {
            const error = (result.body && result.body.error) || { message: "The request failed (HTTP " + result.status + ")." };
            let placed = false;
            (error.details || []).forEach((problem) => {
              const slot = form.querySelector('[data-error-for="' + CSS.escape(problem.field) + '"]');
              const field = form.querySelector('[name="' + CSS.escape(problem.field) + '"]');
              if (slot) { slot.textContent = problem.reason; placed = true; }
              if (field) field.setAttribute("aria-invalid", "true");
            });
            const general = form.querySelector(".form-error");
            if (general) { general.textContent = placed ? "Please correct the fields marked below." : error.message; general.hidden = false; }
          }

          function clearErrors(form) {
            $$("[data-error-for]", form).forEach((slot) => { slot.textContent = ""; });
            $$("[aria-invalid]", form).forEach((el) => el.removeAttribute("aria-invalid"));
            const general = form.querySelector(".form-error");
            if (general) { general.textContent = ""; general.hidden = true; }
          }

          const successHandlers = {
            reload: () => location.reload(),
            "show-token": (form, body) => {
              const panel = $("#new-token");
              $("#new-token-secret").textContent = body.secret;
              panel.hidden = false;
              panel.scrollIntoView({ block: "nearest" });
              $("#copy-new-token").focus();
              form.reset();
            },
            "reprice-diff": (form, body) => {
              const panel = $("#reprice-diff");
              panel.hidden = false;
              const rows = (body.by_model || []).map((m) =>
                "<tr><td>" + esc(m.provider) + "</td><td>" + esc(m.model) + '</td><td class="num">' + m.changed + " of " + m.events +
                '</td><td class="num">' + esc(m.cost_before) + '</td><td class="num">' + esc(m.cost_after) + "</td></tr>").join("");
              $("#reprice-rows").innerHTML = rows || '<tr><td colspan="5">No event in this range.</td></tr>';
              $("#reprice-summary").textContent = body.applied
                ? "Applied: " + body.changed + " events re-priced, " + body.cost_before + " → " + body.cost_after + " USD."
                : body.changed + " of " + body.events + " events would change: " + body.cost_before + " → " + body.cost_after + " USD.";
              const apply = $("#apply-reprice");
              apply.hidden = body.applied || !(body.changed > 0);
              apply.dataset.body = JSON.stringify(Object.assign(formBody(form), { dry_run: false }));
            },
          };

          function esc(text) {
            return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
          }

          // Settings → Prices, the catalog: the file (picked or pasted) is the request body as written; the answer's
          // diff is drawn with every value escaped (a file is not trusted), and Apply sends the same text again.
          const catalogForm = $("form[data-catalog-api]");
          if (catalogForm) {
            const area = $("#catalog-document");
            const picker = $("#catalog-file");
            if (picker) picker.addEventListener("change", () => {
              const file = picker.files && picker.files[0];
              if (file) file.text().then((text) => { area.value = text; });
            });
            async function sendCatalog(apply) {
              const path = catalogForm.dataset.catalogApi + (apply ? "?apply=true" : "");
              const init = { method: "POST", credentials: "same-origin", body: area.value,
                headers: { "X-CSRF-Token": csrf(), "Accept": "application/json", "Content-Type": "application/json" } };
              let response;
              try { response = await fetch(path, init); }
              catch (e) { return { ok: false, status: 0, body: { error: { message: "Tally could not be reached; check your connection and try again." } } }; }
              let data = null;
              try { data = JSON.parse(await response.text()); } catch (e) { data = null; }
              return { ok: response.ok, status: response.status, body: data };
            }
            function showCatalog(body) {
              const cell = (text) => "<td>" + (text === null || text === undefined ? "—" : esc(text)) + "</td>";
              const rows = []
                .concat((body.added || []).map((a) => "<tr>" + cell("added") + cell(a.entry) + cell("") + cell("") + cell(a.model + " from " + a.from) + "</tr>"))
                .concat((body.ended || []).map((e) => "<tr>" + cell("ended") + cell(e.entry) + cell("to") + cell("") + cell(e.removed ? "removed" : e.to) + "</tr>"))
                .concat((body.changed || []).map((c) => "<tr>" + cell("changed") + cell(c.entry) + cell(c.cell) + cell(c.old) + cell(c.new) + "</tr>"));
              $("#catalog-rows").innerHTML = rows.join("") || '<tr><td colspan="5">No change to the catalog in force.</td></tr>';
              $("#catalog-summary").textContent = (body.applied ? "Applied revision " : "Revision ") + body.revision +
                " (in force: " + body.current_revision + "): " + (body.added || []).length + " added, " + (body.ended || []).length +
                " ended, " + (body.changed || []).length + " cells changed.";
              const impact = body.recompute_impact || { events: 0, by_model: [] };
              $("#catalog-impact").textContent = "A re-price would change " + impact.events + " stored events" +
                (impact.by_model.length ? ": " + impact.by_model.map((m) => m.model + " " + m.events).join(", ") : "") + ".";
              const apply = $("#apply-catalog");
              if (apply) apply.hidden = body.applied || body.revision === body.current_revision;
              $("#catalog-diff").hidden = false;
            }
            catalogForm.addEventListener("submit", async (event) => {
              event.preventDefault();
              clearErrors(catalogForm);
              const result = await sendCatalog(false);
              if (!result.ok) { $("#catalog-diff").hidden = true; showErrors(catalogForm, result); return; }
              showCatalog(result.body || {});
            });
            const applyButton = $("#apply-catalog");
            if (applyButton) applyButton.addEventListener("click", async () => {
              if (!window.confirm(applyButton.dataset.confirm)) return;
              applyButton.disabled = true;
              const result = await sendCatalog(true);
              applyButton.disabled = false;
              if (!result.ok) { showErrors(catalogForm, result); return; }
              showCatalog(result.body || {});
              $("#catalog-revision").textContent = "Revision in force: " + result.body.revision + ", applied just now.";
            });
          }

          $$("form[data-api]").forEach((form) => {
            form.addEventListener("submit", async (event) => {
              event.preventDefault();
              const [method, path] = form.dataset.api.split(" ");
              const submit = form.querySelector('button[type="submit"]');
              clearErrors(form);
              if (submit) submit.disabled = true;
              const extra = form.dataset.extra ? JSON.parse(form.dataset.extra) : {};
              const result = await api(method, path, Object.assign(formBody(form), extra));
              if (submit) submit.disabled = false;
              if (!result.ok) { showErrors(form, result); return; }
              (successHandlers[form.dataset.onSuccess || "reload"] || successHandlers.reload)(form, result.body || {});
            });
          });

          document.addEventListener("click", async (event) => {
            const button = event.target.closest("button[data-api]");
            if (!button) return;
            if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
            const [method, path] = button.dataset.api.split(" ");
            button.disabled = true;
            const result = await api(method, path, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
            button.disabled = false;
            const status = button.closest("tr, section, form") && button.closest("tr, section, form").querySelector(".row-status");
            if (!result.ok) {
              const message = (result.body && result.body.error && result.body.error.message) || ("HTTP " + result.status);
              if (status) { status.textContent = message; status.className = "row-status error"; } else { alert(message); }
              return;
            }
            // An alert channel's test: 200 either way, the body says whether the message was delivered.
            if (button.dataset.onSuccess === "show-delivery" && status) {
              const b = result.body || {};
              status.textContent = b.delivered
                ? "Delivered" + (b.status ? " (HTTP " + b.status + ")" : "")
                : "Not delivered: " + (b.error || "HTTP " + b.status);
              status.className = "row-status " + (b.delivered ? "ok" : "error");
              return;
            }
            if (button.dataset.onSuccess === "show-result" && status) {
              status.textContent = button.dataset.successText || "Done";
              status.className = "row-status ok";
              return;
            }
            location.reload();
          });

          // The getting-started snippet: a real ingest token is written into the curl on request.
          const snippetButton = $("#create-snippet-token");
          if (snippetButton) {
            snippetButton.addEventListener("click", async () => {
              snippetButton.disabled = true;
              const project = snippetButton.dataset.project || "default";
              const result = await api("POST", "/api/v1/tokens", { name: "first event", project, scopes: ["ingest", "read"] });
              const status = $("#snippet-status");
              if (!result.ok) {
                snippetButton.disabled = false;
                status.textContent = (result.body && result.body.error && result.body.error.message) || "The token could not be created.";
                return;
              }
              const pre = $("#first-event-curl");
              pre.textContent = pre.textContent.split("$TALLY_TOKEN").join(result.body.secret);
              status.textContent = "A token for project '" + project + "' was created and written into the command. It is shown only on this page.";
            });
          }

          // Live events: the server sends each new row's HTML; it goes on top, keeping the page at 100 rows.
          const live = $("table[data-live]");
          if (live && window.EventSource) {
            const body = live.tBodies[0];
            const status = $("#live-status");
            const source = new EventSource(live.dataset.live);
            source.addEventListener("open", () => { if (status) status.textContent = "Live: new events appear at the top."; });
            source.addEventListener("error", () => { if (status) status.textContent = "Live updates paused; reconnecting…"; });
            source.addEventListener("usage", (message) => {
              const holder = document.createElement("tbody");
              holder.innerHTML = message.data;
              const row = holder.firstElementChild;
              if (!row || body.querySelector('tr[data-seq="' + row.dataset.seq + '"]')) return;
              row.classList.add("fresh");
              const empty = body.querySelector("tr.empty");
              if (empty) empty.remove();
              body.insertBefore(row, body.firstElementChild);
              while (body.rows.length > 100) body.deleteRow(body.rows.length - 1);
            });
          }

          // Overview (issue 22): the cards follow the live API's metrics_update every few seconds. Amounts arrive as
          // exact decimal strings and are formatted as the server formats them (BigInt, never a float); without
          // WebSockets the page simply shows what it was rendered with.
          const liveCards = $("section[data-live-metrics]");
          if (liveCards && window.WebSocket) {
            const grouped = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
            const nanos = (s) => {
              const negative = s.startsWith("-");
              const [whole, fraction = ""] = s.replace("-", "").split(".");
              return (negative ? -1n : 1n) * (BigInt(whole) * 1000000000n + BigInt((fraction + "000000000").slice(0, 9)));
            };
            const money = (s) => {
              if (s === null || s === undefined) return "—";
              const n = nanos(s), magnitude = n < 0n ? -n : n;
              const places = magnitude < 1000000000n && n !== 0n ? 4 : 2;
              const unit = 10n ** BigInt(9 - places), scale = 10n ** BigInt(places);
              const rounded = (magnitude + unit / 2n) / unit;
              return (n < 0n ? "−$" : "$") + grouped(String(rounded / scale)) + "." + String(rounded % scale).padStart(places, "0");
            };
            const integer = (n) => grouped(String(n));
            const percent = (part, whole) => {
              if (whole <= 0) return "—";
              const tenths = Math.floor((part * 1000 + Math.floor(whole / 2)) / whole);
              return Math.floor(tenths / 10) + "." + (tenths % 10) + "%";
            };
            const show = (id, text, raw) => {
              const value = $("#" + id + " .value");
              if (!value) return;
              value.dataset.value = raw;
              if (value.textContent === text) return;
              value.textContent = text;
              value.classList.add("fresh");
            };
            const update = (c) => {
              show("card-spend", money(c.cost_usd), c.cost_usd === null ? "" : c.cost_usd);
              const tokens = c.input_tokens + c.output_tokens;
              show("card-tokens", integer(tokens), String(tokens));
              show("card-requests", integer(c.requests), String(c.requests));
              show("card-error-rate", percent(c.errors, c.requests), String(c.errors));
              show("card-unpriced", integer(c.unpriced_requests), String(c.unpriced_requests));
            };
            let wait = 1000;
            const connect = () => {
              const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + liveCards.dataset.liveMetrics);
              socket.addEventListener("open", () => { wait = 1000; liveCards.dataset.liveState = "open"; });
              socket.addEventListener("message", (message) => {
                let data;
                try { data = JSON.parse(message.data); } catch (e) { return; }
                if (data.type === "metrics_update" && data.metrics && data.metrics.cycle) {
                  update(data.metrics.cycle);
                  liveCards.dataset.liveAt = data.at;
                }
              });
              socket.addEventListener("close", () => {
                liveCards.dataset.liveState = "closed";
                setTimeout(connect, wait);
                wait = Math.min(wait * 2, 30000);
              });
            };
            connect();
          }

          // Playground (issue 21): estimate as the prompt changes, send through the gateway, show the streamed answer
          // (textContent only: the model's words are never markup), then the recorded event's cost and flags.
          const pg = $("#playground-form");
          if (pg) {
            const field = (name) => pg.elements[name];
            const providerOf = () => { const o = field("connection").selectedOptions[0]; return o ? o.dataset.provider : ""; };
            const status = $("#pg-status");
            const answer = $("#pg-answer");
            const estimate = $("#pg-estimate");
            const body = () => {
              const b = { connection: field("connection").value, project: field("project").value, model: field("model").value.trim(),
                system: field("system").value, prompt: field("prompt").value };
              if (field("max_tokens").value !== "") b.max_tokens = Number(field("max_tokens").value);
              if (field("temperature").value !== "") b.temperature = Number(field("temperature").value);
              return b;
            };
            const showError = (data) => {
              const error = (data && data.error) || {};
              const details = (error.details || []).map((d) => d.field + " " + d.reason).join("; ");
              status.textContent = (error.message || "The call failed.") + (details ? " (" + details + ")" : "");
            };
            const useModels = () => { field("model").setAttribute("list", "models-" + providerOf()); };
            field("connection").addEventListener("change", useModels);
            $("#pg-load-models").addEventListener("click", async () => {
              const r = await api("GET", "/playground/models?connection=" + encodeURIComponent(field("connection").value));
              const list = $("#pg-connection-models");
              list.replaceChildren();
              for (const name of (r.ok && r.body.models) || []) { const o = document.createElement("option"); o.value = name; list.appendChild(o); }
              field("model").setAttribute("list", "pg-connection-models");
              status.textContent = r.ok ? r.body.models.length + " models listed by the connection." : "The connection's models could not be listed.";
            });
            let timer = null;
            const refreshEstimate = () => {
              clearTimeout(timer);
              timer = setTimeout(async () => {
                if (field("prompt").value === "" || field("model").value.trim() === "") { estimate.textContent = ""; return; }
                const r = await api("POST", "/playground/estimate", body());
                if (!r.ok) { estimate.textContent = ""; return; }
                const cost = r.body.input_cost_usd === null ? "no price for this model" : "$" + r.body.input_cost_usd;
                estimate.textContent = "Input: " + r.body.input_tokens + " tokens (" + (r.body.exact ? "counted by the provider" : "estimated from the length") + "), " + cost + " before the answer.";
                estimate.dataset.inputTokens = r.body.input_tokens;
              }, 300);
            };
            for (const name of ["prompt", "system", "model", "connection"]) { field(name).addEventListener("input", refreshEstimate); field(name).addEventListener("change", refreshEstimate); }
            refreshEstimate();

            // The text of one streamed event, in each provider's format.
            const deltaText = (provider, data) => {
              if (provider === "openai") { const c = data.choices && data.choices[0]; return c && c.delta ? (c.delta.content || c.delta.refusal || "") : ""; }
              if (provider === "anthropic") return data.type === "content_block_delta" && data.delta && data.delta.text ? data.delta.text : "";
              const parts = (data.candidates && data.candidates[0] && data.candidates[0].content && data.candidates[0].content.parts) || [];
              return parts.filter((p) => !p.thought).map((p) => p.text || "").join("");
            };
            const streamError = (data) => data && data.error ? (data.error.message || JSON.stringify(data.error)) : null;

            const fact = (tbody, label, value) => {
              const row = tbody.insertRow(); const th = document.createElement("th"); th.scope = "row"; th.textContent = label;
              row.appendChild(th); const td = row.insertCell(); td.textContent = value;
            };
            const showEvent = (event) => {
              const facts = $("#pg-facts").tBodies[0]; facts.replaceChildren();
              fact(facts, "Event", event.id);
              fact(facts, "Cost", event.cost_usd === null ? "unpriced" : "$" + event.cost_usd);
              fact(facts, "Input tokens", String(event.input_tokens));
              fact(facts, "Output tokens", String(event.output_tokens));
              if (event.reasoning_tokens) fact(facts, "Reasoning tokens", String(event.reasoning_tokens));
              if (event.cached_input_tokens) fact(facts, "Cached input tokens", String(event.cached_input_tokens));
              fact(facts, "Latency", event.latency_ms === null ? "—" : event.latency_ms + " ms");
              fact(facts, "Time to first token", event.time_to_first_token_ms === null ? "—" : event.time_to_first_token_ms + " ms");
              fact(facts, "Finish reason", event.finish_reason || "—");
              fact(facts, "Safety flags", (event.safety_flags || []).join(", ") || "none");
              fact(facts, "Quality flags", (event.quality_flags || []).join(", ") || "none");
              const lines = $("#pg-breakdown").tBodies[0]; lines.replaceChildren();
              for (const line of (event.cost_breakdown && event.cost_breakdown.lines) || []) {
                const row = lines.insertRow();
                for (const [value, num] of [[line.token_class.replace(/_/g, " "), false], [String(line.tokens), true],
                    [line.usd_per_million || line.usd_per_request || "", true], ["$" + line.cost_usd, true]]) {
                  const td = row.insertCell(); td.textContent = value; if (num) td.className = "num";
                }
              }
              const id = encodeURIComponent(event.id);
              $("#pg-receipt-pdf").href = "/api/v1/events/" + id + "/receipt?format=pdf";
              $("#pg-receipt-txt").href = "/api/v1/events/" + id + "/receipt?format=txt";
              $("#pg-event-link").href = "/events/" + id;
              const result = $("#pg-result"); result.hidden = false; result.dataset.eventId = event.id; result.dataset.costUsd = event.cost_usd || "";
            };
            // The event is stored a moment after the answer ends (the gateway records off the request path).
            const fetchEvent = async (id) => {
              for (let i = 0; i < 40; i++) {
                const r = await api("GET", "/api/v1/events/" + encodeURIComponent(id));
                if (r.ok) return r.body;
                await new Promise((done) => setTimeout(done, 250));
              }
              return null;
            };

            pg.addEventListener("submit", async (e) => {
              e.preventDefault();
              const send = $("#pg-send"); send.disabled = true;
              answer.textContent = ""; $("#pg-result").hidden = true;
              status.textContent = "Sending…";
              const provider = providerOf();
              let response;
              try {
                response = await fetch("/playground/send", { method: "POST", credentials: "same-origin",
                  headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json", "Accept": "text/event-stream" }, body: JSON.stringify(body()) });
              } catch (err) { status.textContent = "Tally could not be reached."; send.disabled = false; return; }
              const eventID = response.headers.get("X-Tally-Event-Id");
              if (!response.ok || !response.body) {
                let data = null; try { data = await response.json(); } catch (err) {}
                showError(data); send.disabled = false;
                if (eventID) { const ev = await fetchEvent(eventID); if (ev) showEvent(ev); }
                return;
              }
              status.textContent = "Streaming…";
              const reader = response.body.getReader(); const decoder = new TextDecoder(); let buffered = ""; let failed = null;
              for (;;) {
                const { done, value } = await reader.read();
                if (done) break;
                buffered += decoder.decode(value, { stream: true });
                let cut;
                while ((cut = buffered.indexOf("\n")) >= 0) {
                  const line = buffered.slice(0, cut).replace(/\r$/, ""); buffered = buffered.slice(cut + 1);
                  if (!line.startsWith("data:")) continue;
                  const payload = line.slice(5).trim();
                  if (payload === "" || payload === "[DONE]") continue;
                  let data; try { data = JSON.parse(payload); } catch (err) { continue; }
                  failed = failed || streamError(data);
                  answer.textContent += deltaText(provider, data);
                }
              }
              status.textContent = failed ? "The stream ended with an error: " + failed : "Done. Reading the recorded event…";
              const ev = eventID ? await fetchEvent(eventID) : null;
              if (ev) { showEvent(ev); if (!failed) status.textContent = "Done."; }
              else if (!failed) status.textContent = "Done; the event is not stored yet. Open Events in a moment.";
              send.disabled = false;
            });
          }
        })();
        """#
}
