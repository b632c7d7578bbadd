"""Loading ``runbooks/*.md`` (YAML front matter + Markdown) and ``playbooks/runner.yaml``.

Every error names file:line and field: the front matter is parsed with its lines counted
from the top of the Markdown file, so ``runbooks/sip-trunk-down.md:9: steps.2.playbook``
points at the line the operator wrote.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from hotline_ops import yamlfile
from hotline_ops.core import matchers as core_matchers
from hotline_ops.core.durations import parse_duration
from hotline_ops.core.runbooks import Runbook, Selector, Step
from hotline_ops.errors import ConfigError

NAME = r"^[a-z0-9][a-z0-9_.-]*$"
PLAYBOOK = re.compile(r"^[A-Za-z0-9_-]+(\.ya?ml)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _matcher_list(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    out = []
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise ValueError(f"item {i}: write a matcher as a string, e.g. 'trunk=\"ct-1\"'")
        out.append(core_matchers.parse(text))
    return out


Matchers = Annotated[list[Any], BeforeValidator(_matcher_list)]


class SelectorSpec(_Strict):
    match: dict[str, str | list[str]] = Field(default_factory=dict)
    matchers: Matchers = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> SelectorSpec:
        if not (self.match or self.matchers):
            raise ValueError("give match (label: value) or matchers ('name=~\"re\"')")
        return self

    def selector(self) -> Selector:
        match = {k: tuple(v) if isinstance(v, list) else (v,) for k, v in self.match.items()}
        return Selector(match, tuple(self.matchers))


class StepSpec(_Strict):
    title: str = ""
    text: str | None = None
    playbook: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    limit: str = ""

    @field_validator("playbook")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        if value is not None and not PLAYBOOK.match(value):
            raise ValueError(f"'{value}' is not a playbook name (NAME or NAME.yml in project/)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        if (self.text is None) == (self.playbook is None):
            raise ValueError("a step has either text (for a person) or playbook (for Ansible)")
        if self.text is not None and (self.vars or self.limit):
            raise ValueError("vars and limit belong to a playbook step")
        if self.text is not None and not self.text.strip():
            raise ValueError("text is empty")
        return self


class FrontMatter(_Strict):
    name: str | None = Field(None, pattern=NAME)
    title: str = Field(min_length=1)
    applies_to: list[SelectorSpec] = Field(default_factory=list)
    level: int | None = Field(None, ge=1, le=3)
    clauses: list[str] = Field(default_factory=list)
    steps: list[StepSpec] = Field(min_length=1)


def split_front_matter(text: str, name: str) -> tuple[str, str]:
    """(front matter with its file line numbers kept, Markdown body)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{name}:1: front matter: the file must start with a '---' line")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            # A blank first line stands in for the opening '---': YAML line N is file line N.
            return "\n" + "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise ConfigError(f"{name}:1: front matter: no closing '---' line")


def playbook_file(project: Path, name: str) -> Path | None:
    for candidate in (name, f"{name}.yml", f"{name}.yaml"):
        path = project / candidate
        if PLAYBOOK.match(candidate) and path.suffix in (".yml", ".yaml") and path.is_file():
            return path
    return None


def load_runbook(path: Path, project: Path) -> Runbook:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    front, body = split_front_matter(text, str(path))
    doc = yamlfile.parse(front, str(path))
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.where()}: front matter: must be a mapping")
    spec = yamlfile.validate(FrontMatter, doc)
    steps = tuple(_step(doc, i, s, project) for i, s in enumerate(spec.steps))
    return Runbook(
        name=spec.name or path.stem,
        title=spec.title,
        level=spec.level,
        applies_to=tuple(s.selector() for s in spec.applies_to),
        steps=steps,
        clauses=tuple(spec.clauses),
        body=body,
        where=doc.where(),
    )


def _step(doc: yamlfile.YamlDoc, index: int, spec: StepSpec, project: Path) -> Step:
    playbook = ""
    if spec.playbook is not None:
        found = playbook_file(project, spec.playbook)
        if found is None:
            loc = ("steps", index, "playbook")
            raise ConfigError(
                f"{doc.where(loc)}: steps.{index}.playbook: no playbook '{spec.playbook}' "
                f"in {project}"
            )
        playbook = found.name
    return Step(index + 1, spec.title, (spec.text or "").strip(), playbook, spec.vars, spec.limit)


def load_runbooks(folder: Path, playbooks: Path) -> dict[str, Runbook]:
    """Every ``*.md`` with front matter in ``folder`` (README.md is documentation)."""
    found: dict[str, Runbook] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        runbook = load_runbook(path, playbooks / "project")
        if runbook.name in found:
            raise ConfigError(
                f"{runbook.where}: name: '{runbook.name}' already defined at "
                f"{found[runbook.name].where}"
            )
        found[runbook.name] = runbook
    return found


# --- playbooks/runner.yaml: how the runner reaches hosts; secrets by name only -------------

PROMPTS = {
    # ssh-add asks "Enter passphrase for <artifacts>/<ident>/ssh_key_data: " (ansible-runner
    # wraps the run in ssh-agent). ansible-runner matches prompts within the last 100
    # characters only and the path alone can be longer: match the prompt's tail.
    "key_passphrase": (r"/ssh_key_data:\s*?$", ()),
    "become": (r"^BECOME password.*:\s*?$", ("--ask-become-pass",)),
    "vault": (r"^Vault password.*:\s*?$", ("--ask-vault-pass",)),
}


class RunnerSpec(_Strict):
    ssh_key: str | None = None  # secret NAME holding the private key text
    passwords: dict[Literal["key_passphrase", "become", "vault"], str] = Field(
        default_factory=dict
    )  # prompt -> secret NAME
    ssh_args: str = "-C -o ControlMaster=auto -o ControlPersist=60s"
    known_hosts: str | None = None
    host_key_checking: bool = True
    timeout: float = 1800.0
    forks: int = Field(10, ge=1, le=200)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class RunnerConfig(BaseModel):
    model_config = ConfigDict(frozen=True)
    spec: RunnerSpec = Field(default_factory=RunnerSpec)
    where: dict[str, str] = Field(default_factory=dict)  # field -> file:line

    def secret_names(self) -> dict[str, str]:
        """field -> secret name, e.g. {'ssh_key': 'ansible_ssh_key', 'become': 'sudo'}."""
        names = dict(self.spec.passwords)
        if self.spec.ssh_key:
            names["ssh_key"] = self.spec.ssh_key
        return names


def load_runner_config(playbooks: Path) -> RunnerConfig:
    path = playbooks / "runner.yaml"
    if not path.exists():
        return RunnerConfig()
    doc = yamlfile.load(path)
    spec = yamlfile.validate(RunnerSpec, doc)
    where = {"ssh_key": doc.where(("ssh_key",))}
    where.update({k: doc.where(("passwords", k)) for k in spec.passwords})
    return RunnerConfig(spec=spec, where=where)
