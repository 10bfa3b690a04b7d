"""What the notebooks show: cards, warning blocks and tables, so that each cell is one call.

Every value put into HTML here goes through :func:`torinvest.safety.html_text` (CloudTrail
``userAgent``, ``requestParameters``, user and role names, anything read from a findings file can
be written by the attacker: an f-string of such text in ``IPython.display.HTML``/``Markdown`` runs
its script). Tables go through pandas' ``to_html(escape=True)`` or itables (which escapes), charts
through plotly (which escapes).

:func:`setup` makes the notebook self-contained: plotly figures render in JupyterLab (the plotly
mime type) and in the offline HTML report (plotly.js inlined once, no MathJax from a CDN), and
itables runs in offline mode (its bundle inlined, nothing from a CDN).

The package, in the order of the report (each module imports only those above it in this list,
plus the rest of torinvest):

    markup      small HTML builders (every value escaped), column classes, tables
    last_used   the activity card's line on IAM's last use of the key
    rerun       a working notebook's results kept current when its cells run out of order
    setup       the offline renderers, :data:`STYLE`, errors shown as cards
    cards       an error card, the files a run wrote, a findings listing's issues
    activity    1–3: the finding and the key, the key's activity, by source IP
    answer      0: the answer first (computed last, shown in the slot the notebook keeps)
    campaign    related findings; who else used these addresses
    assessment  4–6: signals and score, derived keys, the verdict and its plans
    widgets     the verdict form (JupyterLab only)
    triage      the triage table and its buttons

Every public name is importable from ``torinvest.display`` (the notebooks call
``display.<name>``).
"""

# IPython's HTML and safety.html_text are also reached as display.HTML and display.html_text
from IPython.display import HTML as HTML

from torinvest.display.activity import (
    EMPTY_REASONS,
    EVENT_COLUMNS,
    EVENT_TABLE_COLUMNS,
    EVENTS_ORDER,
    KIND_MEANING,
    PER_IP_SHOWN,
    TABLE_LIST_ITEMS,
    TYPE_MEANING,
    activity_gap,
    activity_state,
    activity_status,
    all_issues,
    data_issues,
    empty_reason,
    events_frame,
    events_table,
    events_view,
    finding_card,
    per_ip_frame,
    per_ip_table,
    sources_card,
)
from torinvest.display.answer import (
    ANSWER_CALL_LABELS,
    ANSWER_DETAIL_CHARS,
    ANSWER_MAX_CALLS,
    ANSWER_MAX_ITEMS,
    ANSWER_NOT_CURRENT,
    ANSWER_PENDING,
    answer_first,
    answer_html,
    answer_slot,
    key_calls,
    verdict_recorded,
)
from torinvest.display.assessment import (
    SENSITIVE_SHOWN,
    derived_keys,
    next_steps,
    plan_frame,
    score_card,
    sensitive_table,
    signals_table,
    verdict_card,
)
from torinvest.display.campaign import ip_pivot, related_findings
from torinvest.display.cards import (
    error_card,
    files_written,
    findings_issues,
    internal_error_card,
    parameter_notes,
)
from torinvest.display.markup import (
    ID_COLUMNS,
    LONG_COLUMNS,
    MAX_ISSUES_SHOWN,
    PRINT_MAX_ROWS,
    PRINT_SECOND_LINE,
    TABLE_MAX_BYTES,
    TIME_FORMAT,
    column_class,
    display_frame,
    frame_html,
    print_html,
    table,
)
from torinvest.display.markup import _time as _time
from torinvest.display.setup import PLOTLY_RENDERER, PLOTLY_RENDERERS, STYLE, setup
from torinvest.display.triage import (
    TRIAGE_HEADINGS,
    TRIAGE_NOWRAP,
    TRIAGE_SHOWN,
    TRIAGE_STYLE,
    TriageActions,
    triage_table,
)
from torinvest.display.widgets import WIDGETS_ENV, VerdictForm, live_frontend, verdict_section
from torinvest.safety import html_text as html_text

__all__ = [
    "ANSWER_CALL_LABELS",
    "ANSWER_DETAIL_CHARS",
    "ANSWER_MAX_CALLS",
    "ANSWER_MAX_ITEMS",
    "ANSWER_NOT_CURRENT",
    "ANSWER_PENDING",
    "EMPTY_REASONS",
    "EVENTS_ORDER",
    "EVENT_COLUMNS",
    "EVENT_TABLE_COLUMNS",
    "ID_COLUMNS",
    "KIND_MEANING",
    "LONG_COLUMNS",
    "MAX_ISSUES_SHOWN",
    "PER_IP_SHOWN",
    "PLOTLY_RENDERER",
    "PLOTLY_RENDERERS",
    "PRINT_MAX_ROWS",
    "PRINT_SECOND_LINE",
    "SENSITIVE_SHOWN",
    "STYLE",
    "TABLE_LIST_ITEMS",
    "TABLE_MAX_BYTES",
    "TIME_FORMAT",
    "TRIAGE_HEADINGS",
    "TRIAGE_NOWRAP",
    "TRIAGE_SHOWN",
    "TRIAGE_STYLE",
    "TYPE_MEANING",
    "WIDGETS_ENV",
    "TriageActions",
    "VerdictForm",
    "activity_gap",
    "activity_state",
    "activity_status",
    "all_issues",
    "answer_first",
    "answer_html",
    "answer_slot",
    "column_class",
    "data_issues",
    "derived_keys",
    "display_frame",
    "empty_reason",
    "error_card",
    "events_frame",
    "events_table",
    "events_view",
    "files_written",
    "finding_card",
    "findings_issues",
    "frame_html",
    "internal_error_card",
    "ip_pivot",
    "key_calls",
    "live_frontend",
    "next_steps",
    "parameter_notes",
    "per_ip_frame",
    "per_ip_table",
    "plan_frame",
    "print_html",
    "related_findings",
    "score_card",
    "sensitive_table",
    "setup",
    "signals_table",
    "sources_card",
    "table",
    "triage_table",
    "verdict_card",
    "verdict_recorded",
    "verdict_section",
]
