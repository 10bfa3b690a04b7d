# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] tags=["notebook-only"]
# # Tor finding investigation
#
# One GuardDuty `UnauthorizedAccess:IAMUser/TorIPCaller` or `Recon:IAMUser/TorIPCaller`
# finding: the key it names, everything that key did (from CloudTrail), by source IP, the
# signals that bear on a verdict, the verdict and what it leads to.
#
# Run it from JupyterLab (set the parameters below) or as a report:
# `torinvest investigate FINDING_ID --case DIR --out OUT` (or AWS flags instead of `--case`).
# With `case_dir` empty it reads AWS with the AWS CLI's credentials. The sample case is at
# `torinvest.case.sample_case().root`. Nothing here changes AWS: plans are shown as dry runs.
#
# The answer comes first: the cell below shows it once the last cell has run. Cells tagged
# `notebook-only` (this one) are left out of the HTML report.

# %%
from torinvest import campaign, charts, display, investigation, report

display.setup()

# %%
answer = display.answer_slot()

# %% tags=["parameters"]
finding_id: str = ""  # GuardDuty finding ID to investigate (32 hex characters)
case_dir: str = ""  # case folder (findings/, cloudtrail/, tor/); empty: read AWS
profile: str = ""  # AWS profile; empty: the AWS CLI's default chain
regions: str = "all"  # AWS regions: 'all' (every enabled one) or a comma list; never empty
role_arn: str = ""  # role to assume first, e.g. in a member account
external_id: str = ""  # external ID for role_arn (AssumeRole's ExternalId); empty: none
logs: list[str] = []  # extra CloudTrail log folders, files or s3:// prefixes
exit_lists: list[str] = []  # extra Tor exit-list files or folders
geoip: list[str] = []  # MaxMind-format .mmdb databases (ASN, country); empty: RIR countries only
engine: str = "files"  # log files read by: files, duckdb, or athena (the CloudTrail table)
athena_database: str = ""  # athena engine: database holding the CloudTrail table
athena_table: str = ""  # athena engine: the CloudTrail table (empty: cloudtrail_logs)
athena_workgroup: str = ""  # athena engine: workgroup (empty: primary)
athena_output: str = ""  # athena engine: query result location s3://… (empty: workgroup's)
max_rows: int = 1_000_000  # duckdb/athena: above this many events, count in the engine; 0: never
max_file_mb: int = 512  # the most one log file may hold decompressed (MiB); larger: an issue
lookback_days: float = 14  # days of activity read before the finding's first sighting
lookahead_days: float = 7  # days of activity read after its last sighting
tolerance_hours: float = 24  # an IP is Tor if a list shows it within this many hours of the call
follow_derived: bool = True  # also follow keys the key minted (GetSessionToken, AssumeRole, …)
verdict_status: str = "pending"  # pending, legitimate, malicious or inconclusive
analyst: str = ""  # who decides (required unless pending)
rationale: str = ""  # why (required unless pending)
suppress: bool = False  # legitimate: also show each suppression rule scope (or why refused)
supersede: bool = False  # record the verdict even over another analyst's current one
finding_changed_ok: bool = False  # record it even when the finding changed since this run read it
ledger: str = ""  # verdict ledger file; empty: $TORINVEST_LEDGER or the default location
summary_path: str = ""  # where to write summary.json; empty: don't
export_dir: str = ""  # folder for events.csv and per_ip.csv (formula-safe); empty: don't
fetched_findings: str = ""  # the findings the command fetched from GuardDuty (a file); empty: fetch

# %%
# Each parameter checked against its type (papermill's -p gives text: "a,b" for a list,
# "false" for a bool); a wrong one stops here, named.
# An edit of the parameters cell that the injected-parameters cell below it overrides
# (a working copy, a report run again) is said here: change those in the injected cell.
params = investigation.InvestigateParameters.check(globals())
display.parameter_notes(globals(), params)

# %%
sources = investigation.sources_from_parameters(
    case_dir=params.case_dir,
    profile=params.profile,
    regions=params.regions,
    role_arn=params.role_arn,
    external_id=params.external_id,
    logs=params.logs,
    exit_lists=params.exit_lists,
    engine=params.engine,
    athena_database=params.athena_database,
    athena_table=params.athena_table,
    athena_workgroup=params.athena_workgroup,
    athena_output=params.athena_output,
    max_rows=params.max_rows,
    max_file_mb=params.max_file_mb,
    geoip=params.geoip,
)

# %% [markdown]
# ## 1. The finding and the key
#
# Who, which key, when, and the Tor exit node GuardDuty saw.

# %%
findings = investigation.load_findings(sources, fetched=params.fetched_findings)

# %%
finding, key = investigation.locate(findings, params.finding_id)

# %%
display.finding_card(finding, key)

# %% [markdown]
# ## 2. The key's activity
#
# Every CloudTrail event made with the key (and with keys it minted) in the window, from
# every source. Data issues come first: a source that could not be read is not a source
# without events. With the duckdb/athena engine and more than `max_rows` events, the
# activity is counted in the engine and the table lists only the sensitive calls.

# %%
inv = investigation.investigate(
    params.finding_id,
    sources,
    lookback_days=params.lookback_days,
    lookahead_days=params.lookahead_days,
    tolerance_hours=params.tolerance_hours,
    follow_derived=params.follow_derived,
    findings=findings,
)

# %%
# related findings, and who else called from the key's Tor and new addresses (section 5b)
inv = campaign.look_around(inv, findings)

# %%
display.data_issues(inv, findings, ledger=params.ledger)

# %%
display.activity_status(inv)

# %%
display.sources_card(inv)

# %%
display.events_table(inv)

# %% [markdown]
# ## 3. Activity by source IP
#
# Tor exits (listed within the tolerance of each call) against the key's usual addresses.

# %%
charts.timeline(
    inv.by_time, finding=(inv.key.first_seen, inv.key.last_seen), empty=display.empty_reason(inv)
)

# %%
charts.calls_per_ip(inv.by_time, empty=display.empty_reason(inv))

# %%
display.per_ip_table(inv)

# %%
charts.event_mix(inv.by_time, empty=display.empty_reason(inv))

# %%
charts.user_agents(inv.by_agent, empty=display.empty_reason(inv))

# %%
charts.regions(inv.by_region, empty=display.empty_reason(inv))

# %% [markdown]
# ## 4. Signals and triage score
#
# The score orders what to read first. It is not a verdict.

# %%
display.score_card(inv)

# %%
display.signals_table(inv)

# %%
display.sensitive_table(inv)

# %% [markdown]
# ## 5. Derived keys
#
# Temporary keys minted by the suspect key: the same actor holds them.

# %%
display.derived_keys(inv, followed=params.follow_derived)

# %% [markdown]
# ## 5b. The campaign around the key
#
# GuardDuty findings of any type (archived too) that name the key, its principal or one of its
# Tor IPs in the window; then every other key and principal that called AWS from those Tor IPs
# and from the key's new source IPs, each with the command that investigates it. Each says
# whether it could look: "none" is not "could not look".

# %%
display.related_findings(inv)

# %%
display.ip_pivot(inv)

# %% [markdown]
# ## 6. Verdict and next steps
#
# A decided verdict is recorded in the ledger with its evidence, once: the same verdict again
# adds nothing, a different one supersedes it. In JupyterLab, record it with the form below;
# in a report it comes from the parameters, and never replaces another analyst's current
# verdict unless `supersede` is true (the card says what was not recorded, or superseded). Legitimate: archive (and optionally suppress,
# scoped to this principal). Not legitimate: assume every credential is compromised and
# remediate. The plans are dry runs: this notebook never executes them.

# %%
verdict = report.decide(
    inv,
    finding_id=params.finding_id,
    status=params.verdict_status,
    analyst=params.analyst,
    rationale=params.rationale,
    ledger=params.ledger,
    supersede=params.supersede,
    finding_changed_ok=params.finding_changed_ok,
    out_dir=params.export_dir or None,
)

# %%
display.verdict_section(inv, verdict, suppress=params.suppress)

# %% [markdown]
# ## Files

# %%
written = report.export_tables(inv, params.export_dir)

# %%
written["summary.json"] = report.write_summary(inv, verdict, params.summary_path, findings=findings)
display.files_written(written)

# %%
display.answer_first(answer, inv, verdict, findings=findings, followed=params.follow_derived)
