"""The "Models" panel as a browser test sees it: selectors, the panel's state read from the page,
and :class:`SidebarPage`, which waits for the page with a failure message that shows the panel,
the notebooks' errors, the browser console and the server log.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from browser import Lab, page_errors

TIMEOUT = 60_000  # ms for something to show up in the page

SIDEBAR = "#nbml-sidebar"


def doc(name: str) -> str:
    return f'{SIDEBAR} section.nbml-sb-doc[data-doc="{name}"]'


def row(nb: str, model: str) -> str:
    return f'{doc(nb)} li.nbml-sb-model[data-model="{model}"]'


# The state of every model row in the sidebar, by document and model name (names compared as
# strings in the page, so the injection name needs no CSS escaping).
PANEL_STATE = """() => {
    const out = {};
    for (const s of document.querySelectorAll('#nbml-sidebar section.nbml-sb-doc')) {
        const models = {};
        for (const li of s.querySelectorAll('li.nbml-sb-model')) {
            const bar = li.querySelector('.nbml-sb-progress > div');
            const [epoch, epochs] = (li.querySelector('.nbml-sb-epoch')?.textContent ?? '0/0')
                .split('/').map(Number);
            models[li.dataset.model] = {
                status: li.dataset.status,
                word: li.querySelector('.nbml-sb-status')?.textContent,
                name: li.querySelector('.nbml-sb-name')?.textContent,
                width: parseFloat(bar?.style.width ?? '0') || 0,
                epoch, epochs,
                buttons: [...li.querySelectorAll('button')].map((b) => b.textContent),
            };
        }
        out[s.dataset.doc] = {
            nbml: s.dataset.nbml,
            kernel: s.querySelector('.nbml-sb-kernel')?.textContent,
            devices: s.querySelector('.nbml-sb-devices')?.textContent ?? '',
            notes: [...s.querySelectorAll('.nbml-sb-note')].map((n) => n.textContent),
            models,
        };
    }
    return out;
}"""


# Whether a document's row of a model says a status (names compared as strings: no escaping).
_ROW_STATUS = """([doc, model, status]) => {
    for (const s of document.querySelectorAll('#nbml-sidebar section.nbml-sb-doc')) {
        if (s.dataset.doc !== doc) continue;
        for (const li of s.querySelectorAll('li.nbml-sb-model')) {
            if (li.dataset.model !== model || li.dataset.status !== status) continue;
            const bar = li.querySelector('.nbml-sb-progress > div');
            return status !== 'running' || parseFloat(bar?.style.width ?? '0') > 0;
        }
    }
    return false;
}"""

# Opens notebook b to the right of a (a open already), keeps their panels in window.__nbml and
# defines window.__nbmlRunAll(path), which runs all of a notebook's cells and records how that
# ended in window.__nbml.runs[path]; shows the Models panel.
OPEN_SIDE_BY_SIDE = """async ([a, b]) => {
    const app = window.jupyterapp;
    await app.restored;
    await app.commands.execute('docmanager:open', {path: b, options: {mode: 'split-right'}});
    const panels = {};
    for (const w of app.shell.widgets('main')) {
        if (w.context && [a, b].includes(w.context.path)) panels[w.context.path] = w;
    }
    for (const p of Object.values(panels)) {
        await p.context.ready;
        await p.sessionContext.ready;
    }
    window.__nbml = {panels, runs: {}};
    window.__nbmlRunAll = async (path) => {
        const panel = window.__nbml.panels[path];
        app.shell.activateById(panel.id);
        await new Promise((r) => setTimeout(r, 50));
        app.commands.execute('notebook:run-all-cells').then(
            (ok) => { window.__nbml.runs[path] = ok === false ? 'failed' : 'done'; },
            (err) => { window.__nbml.runs[path] = 'error: ' + err; },
        );
    };
    app.shell.activateById('nbml-sidebar');
}"""


# Shows the Models panel and records each change of the status words of a model's monitor and
# its panel row in window.__nbmlWords: [monitor's data-status, row's data-status, row's text].
WATCH_WORDS = """(model) => {
    window.jupyterapp.shell.activateById('nbml-sidebar');
    window.__nbmlWords = [];
    const look = () => {
        const m = document.querySelector('[data-testid="nbml-monitor"]');
        const li = [...document.querySelectorAll('#nbml-sidebar li.nbml-sb-model')]
            .find((l) => l.dataset.model === model);
        const pair = [m?.dataset.status ?? null, li?.dataset.status ?? null,
            li?.querySelector('.nbml-sb-status')?.textContent ?? null];
        const last = window.__nbmlWords.at(-1);
        if (!last || last.some((w, i) => w !== pair[i])) window.__nbmlWords.push(pair);
    };
    new MutationObserver(look).observe(document.body, {
        subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'],
    });
    look();
}"""


@dataclass
class SidebarPage:
    """A page showing the "Models" panel, with the helpers a test of it needs; ``seen`` keeps
    what the stages of a test module (its module-scoped fixtures) observed, for its tests."""

    page: Any
    lab: Lab
    console: list[str]
    dialogs: list[str]
    seen: dict[str, Any] = field(default_factory=dict)

    def state(self) -> dict[str, Any]:
        return self.page.evaluate(PANEL_STATE)

    def context(self) -> str:
        return (
            f"\nsidebar: {json.dumps(self.state(), indent=1)[:3000]}"
            f"\nnotebook errors:\n{page_errors(self.page)}\nbrowser console (last 20):\n"
            + "\n".join(self.console[-20:])
            + f"\nserver log tail:\n{self.lab.log_tail(2000)}"
        )

    def wait(self, js: str, what: str, arg: Any = None, timeout: int = TIMEOUT) -> Any:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            return self.page.wait_for_function(js, arg=arg, timeout=timeout).json_value()
        except PlaywrightTimeout:
            pytest.fail(f"timed out waiting for {what}" + self.context())

    def open_side_by_side(self, a: str, b: str) -> int:
        """Open notebook ``b`` beside ``a`` (see :data:`OPEN_SIDE_BY_SIDE`); returns how many of
        the two panels were found."""
        self.page.evaluate(OPEN_SIDE_BY_SIDE, [a, b])
        return self.page.evaluate("() => Object.keys(window.__nbml.panels).length")

    def run_all(self, path: str) -> None:
        """Start running all cells of ``path`` (returns at once; :meth:`ran` says how it ended)."""
        self.page.evaluate("(p) => window.__nbmlRunAll(p)", path)

    def wait_status(
        self, nb: str, model: str, status: str, what: str, timeout: int = TIMEOUT
    ) -> None:
        """Wait until ``nb``'s row of ``model`` says ``status`` (and, for ``running``, shows some
        progress); fail with ``what`` and the page's context if it does not in time."""
        self.wait(_ROW_STATUS, what, [nb, model, status], timeout=timeout)

    def ran(self, path: str) -> str | None:
        """How running all of ``path``'s cells ended ('done', 'failed', ...), None while running
        (``window.__nbml.runs``, which the test module keeps)."""
        return self.page.evaluate("(p) => window.__nbml.runs[p]", path)

    def kernel_value(self, path: str, expression: str) -> Any:
        """The value of a Python ``expression`` (JSON-able) in the kernel of the notebook panel
        ``window.__nbml.panels[path]``, asked silently on the page's own kernel connection."""
        text = self.page.evaluate(
            """async ([p, expr]) => {
                const kernel = window.__nbml.panels[p].sessionContext.session.kernel;
                const reply = await kernel.requestExecute({
                    code: '', silent: true, store_history: false,
                    user_expressions: {v: `__import__('json').dumps(${expr})`},
                }).done;
                return reply.content.user_expressions.v.data['text/plain'];
            }""",
            [path, expression],
        )
        return json.loads(ast.literal_eval(text))
