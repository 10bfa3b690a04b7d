# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Open Tor findings
#
# Every open `TorIPCaller` finding across the regions (or in a case folder), newest first, with
# the key it names, the principal and how often GuardDuty saw it; then, per finding, the
# command that makes its working notebook (`torinvest notebook …`; in JupyterLab, a button)
# and the one that writes its report (`torinvest investigate …`; `--all-open` runs them all).

# %%
from torinvest import display, investigation, report

display.setup()

# %% tags=["parameters"]
case_dir: str = ""  # case folder (reads findings/); empty: GuardDuty via the AWS CLI's credentials
profile: str = ""  # AWS profile; empty: the AWS CLI's default chain
regions: str = "all"  # AWS regions: 'all' (every enabled one) or a comma list; never empty
role_arn: str = ""  # role to assume first, e.g. in a member account
include_archived: bool = False  # also list archived findings
out_dir: str = "out"  # folder the suggested commands write their reports under
notebooks_dir: str = "investigations"  # folder of the working notebooks the buttons make

# %%
# Each parameter checked against its type (papermill's -p gives text: "false" for a bool); a
# wrong one stops here, named.
# An edit of the parameters cell that the injected-parameters cell below it overrides
# (a working copy, a report run again) is said here: change those in the injected cell.
params = investigation.TriageParameters.check(globals())
display.parameter_notes(globals(), params)

# %%
sources = investigation.sources_from_parameters(
    case_dir=params.case_dir,
    profile=params.profile,
    regions=params.regions,
    role_arn=params.role_arn,
)

# %%
found = report.open_findings(sources, include_archived=params.include_archived)

# %%
display.findings_issues(found.issues, found.skipped, archived=found.archived, samples=found.samples)

# %%
triage = report.triage_frame(
    found,
    case_dir=params.case_dir,
    profile=params.profile,
    regions=params.regions,
    role_arn=params.role_arn,
    out_dir=params.out_dir,
)

# %%
display.triage_table(
    triage,
    found,
    case_dir=params.case_dir,
    profile=params.profile,
    regions=params.regions,
    role_arn=params.role_arn,
    notebooks_dir=params.notebooks_dir,
)
