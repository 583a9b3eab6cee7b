"""The README and docs/ say what the code does, and keep saying it as the code grows.

* every relative link (and image) in README.md and docs/*.md leads to a file that exists, and an ``#anchor`` to a
  heading in it;
* every option and argument of every subcommand, as the parsers ``sd_dataset.cli.build_parser`` builds have them,
  is in that command's section of docs/cli.md (or a section of the page it links to);
* every message the code raises for the user (a ``DatasetError`` or subclass, found by walking the package's
  syntax trees, messages made by helper functions included; the access check's refusals; the readiness check's
  findings) is listed exactly once in docs/troubleshooting.md, and everything listed there is still a message the
  code can say.

The lists come from the code, so a new flag or message fails here until it is documented.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from sd_dataset.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sd_dataset"
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
PLACEHOLDER = "{}"
BASE_ERROR = "DatasetError"
# calls whose argument at this position is a sentence shown to the user, besides DatasetError and its subclasses
MESSAGE_ARGUMENT = {"Finding": 2}  # Finding(level, code, message): the readiness check's findings
REFUSAL = "Refused: "  # the access check's sentences, shown as gradio errors rather than raised as DatasetErrors
# a documented message must match a code string with at least this much literal text, or "{}: {}" matches anything
MIN_LITERAL = 12


# -- markdown ------------------------------------------------------------------------------------------------------

def without_code_blocks(text: str) -> str:
    return re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces become hyphens."""
    text = re.sub(r"`|\*\*|__|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", without_code_blocks(page.read_text(encoding="utf-8")),
                             re.M):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    text = without_code_blocks(page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # a link in a code span is text
    return re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)


def sections(page: Path) -> list[tuple[str, str]]:
    """(heading, text up to the next heading of the same or a higher level) for every heading of ``page``."""
    text = without_code_blocks(page.read_text(encoding="utf-8"))
    heads = list(re.finditer(r"^(#{1,6})\s+(.+?)\s*$", text, re.M))
    found = []
    for i, head in enumerate(heads):
        level = len(head.group(1))
        end = next((h.start() for h in heads[i + 1:] if len(h.group(1)) <= level), len(text))
        found.append((head.group(2), text[head.end():end]))
    return found


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or re.fullmatch(r"\|[\s:|-]+\|?", line):
            continue
        cells = re.split(r"(?<!\\)\|", line.strip("|"))
        rows.append([cell.strip().replace("\\|", "|") for cell in cells])
    return rows


# -- links ---------------------------------------------------------------------------------------------------------

def test_the_pages_exist():
    names = {p.name for p in PAGES}
    assert {"README.md", "cli.md", "troubleshooting.md"} <= names


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.name}: {target} (no {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved})")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{page.name}: {target} (no heading #{anchor} in {resolved.name})")
    assert broken == []


# -- the command line ------------------------------------------------------------------------------------------------

def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def names_of(action: argparse.Action) -> list[str]:
    """How the docs name an argument: its long flags (or short ones where it has none), a positional's metavar."""
    if action.option_strings:
        long = [o for o in action.option_strings if o.startswith("--")]
        return long or list(action.option_strings)
    return [action.metavar or action.dest.upper()]


def documented(section: str, name: str) -> bool:
    """``name`` starts a code span of the section (`--out DIR`, `--caption txt`, `QUERY`)."""
    return re.search(r"`" + re.escape(name) + r"(?![\w-])", section) is not None


def test_every_subcommand_and_flag_is_in_cli_md():
    page = DOCS / "cli.md"
    parts = sections(page)
    by_anchor = {slug(head): body for head, body in parts}
    text = page.read_text(encoding="utf-8")
    parser = build_parser()
    missing = [f"(top level) {name}" for action in parser._actions if not isinstance(action, (
        argparse._SubParsersAction, argparse._HelpAction)) for name in names_of(action) if not documented(text, name)]
    commands = subcommands(parser)
    assert len(commands) >= 9  # the walk really sees the parsers
    for command, sub in commands.items():
        own = [body for head, body in parts if re.fullmatch(r"`" + re.escape(command) + r"(?:\s[^`]*)?`.*", head)]
        if not own:
            missing.append(f"{command}: no section whose heading starts with `{command}`")
            continue
        # the section and the sections of this page it links to (options several commands share)
        linked = [by_anchor.get(anchor, "") for anchor in re.findall(r"\]\(#([^)]+)\)", own[0])]
        reachable = "\n".join([own[0], *linked])
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            missing += [f"{command}: {name}" for name in names_of(action) if not documented(reachable, name)]
    assert missing == []


# -- the messages ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    text: str  # the sentence, every run-time value shown as {}
    where: str

    @property
    def literal(self) -> int:
        return len(self.text.replace(PLACEHOLDER, ""))

    def matches(self, shown: str) -> bool:
        return pattern(self.text).fullmatch(" ".join(shown.split())) is not None


@functools.lru_cache(maxsize=None)
def pattern(text: str) -> re.Pattern:
    """A message with each {} matching any text (a value, or the docs' …); blanks compared as single spaces."""
    pieces = (re.escape(" ".join(p.split())) for p in text.split(PLACEHOLDER))
    return re.compile(".*?".join(pieces), re.S)


def render(node, values=None):
    """A string expression's text with {} for each run-time value; ``values`` fills a factory's parameters."""
    values = values or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in values:
        return values[node.id]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value.value, ast.Name) and value.value.id in values and value.format_spec is None \
                    and value.conversion == -1:
                parts.append(values[value.value.id])
            else:
                parts.append(PLACEHOLDER)
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = render(node.left, values), render(node.right, values)
        return None if left is None or right is None else left + right
    return None


def parameters(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in fn.args.posonlyargs + fn.args.args]


def called_name(call: ast.Call):
    return getattr(call.func, "id", getattr(call.func, "attr", None))


def arguments(call: ast.Call, params: list[str]) -> dict[str, str]:
    """A helper's parameters as the call fills them (``self`` dropped for a method), each as text or {}."""
    params = params[1:] if isinstance(call.func, ast.Attribute) else params
    given = dict(zip(params, call.args)) | {k.arg: k.value for k in call.keywords if k.arg}
    return {p: render(v) or PLACEHOLDER for p, v in given.items()}


def texts_of(node, functions: dict) -> list:
    """The texts a message expression can have: itself, or what the helper it calls returns (a sentence made
    by ``self._tag_limit_sentence(…)``), every returned string with the call's arguments filled in."""
    text = render(node)
    if text is not None or not isinstance(node, ast.Call):
        return [text]
    helper = functions.get(called_name(node))
    if helper is None or not is_call_of(node, parameters(helper)):
        return []
    values = arguments(node, parameters(helper))
    return [render(r.value, values) for r in ast.walk(helper) if isinstance(r, ast.Return) and r.value is not None]


def is_call_of(call: ast.Call, params: list[str]) -> bool:
    """Whether ``call`` can be a call of a helper with these parameters: ``self.helper(…)`` for a method, a plain
    ``helper(…)`` for a function (``log.warning(…)`` is neither)."""
    method = params[:1] in (["self"], ["cls"])
    if isinstance(call.func, ast.Attribute):
        return method and isinstance(call.func.value, ast.Name) and call.func.value.id == params[0]
    return not method


def error_classes(trees) -> set[str]:
    """DatasetError and every class that derives from it, however deep."""
    classes = {BASE_ERROR}
    while True:
        more = {node.name for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                and any(getattr(b, "id", getattr(b, "attr", None)) in classes for b in node.bases)} - classes
        if not more:
            return classes
        classes |= more


@functools.lru_cache(maxsize=None)
def package_trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))}


def functions_of(tree) -> list:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def factories_of(tree, positions: dict[str, int]) -> dict[str, tuple[list[str], ast.Call]]:
    """Helpers that build a message from their parameters and hand it back (return it, or append it to the
    findings): helper → (its parameters, the call that builds the message).  Their callers fill them in."""
    found = {}
    for fn in functions_of(tree):
        params = parameters(fn)
        handed_back = [n.value for n in ast.walk(fn) if isinstance(n, ast.Return)]
        handed_back += [n.args[0] for n in ast.walk(fn) if isinstance(n, ast.Call) and called_name(n) == "append"
                        and n.args]
        for call in (n for n in handed_back if isinstance(n, ast.Call) and called_name(n) in positions):
            index = positions[called_name(call)]
            if len(call.args) > index and {n.id for n in ast.walk(call.args[index])
                                           if isinstance(n, ast.Name)} & set(params):
                found[fn.name] = (params, call)
    return found


def default_messages(node: ast.ClassDef, where: str) -> list[Message]:
    """An error class's own message: the default of its ``__init__``'s ``message`` (Cancelled's)."""
    found = []
    for init in (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"):
        with_defaults = init.args.args[len(init.args.args) - len(init.args.defaults):]
        found += [Message(d.value, f"{where}:{d.lineno}") for a, d in zip(with_defaults, init.args.defaults)
                  if a.arg == "message" and isinstance(d, ast.Constant) and isinstance(d.value, str)]
    return found


@functools.lru_cache(maxsize=None)
def code_messages() -> tuple[Message, ...]:
    """Every sentence the package says to the user, as DatasetErrors, refusals and findings."""
    trees = package_trees()
    positions = {name: 0 for name in error_classes(trees)} | MESSAGE_ARGUMENT
    found: list[Message] = []
    for path, tree in trees.items():
        where = str(path.relative_to(ROOT))
        functions = {fn.name: fn for fn in functions_of(tree)}
        factories = factories_of(tree, positions)
        inside_factories = {id(call) for _, call in factories.values()}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in positions:
                found += default_messages(node, where)
            if not isinstance(node, ast.Call) or id(node) in inside_factories:
                continue
            name = called_name(node)
            factory = factories.get(name)
            if name in positions and len(node.args) > positions[name]:
                texts = texts_of(node.args[positions[name]], functions)
            elif factory is not None and is_call_of(node, factory[0]):
                params, call = factory
                texts = [render(call.args[positions[called_name(call)]], arguments(node, params))]
            else:
                continue
            found += [Message(text, f"{where}:{node.lineno}") for text in texts if text is not None]
        found += [Message(text, f"{where}:{node.lineno}") for node in whole_strings(tree)
                  if (text := render(node)) is not None and text.startswith(REFUSAL)]
    return tuple(found)


def whole_strings(tree) -> list[ast.AST]:
    """The string expressions of a module, not the pieces of an f-string or of a sum of strings."""
    parts = {id(child) for node in ast.walk(tree) if isinstance(node, (ast.JoinedStr, ast.BinOp))
             for child in ast.iter_child_nodes(node)}
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp))
            and id(node) not in parts]


def code_strings() -> list[Message]:
    """Every string the package holds with enough literal text to be a message (summary lines, warnings too)."""
    found = []
    for path, tree in package_trees().items():
        for node in whole_strings(tree):
            text = render(node)
            if text and len(text.strip().replace(PLACEHOLDER, "")) >= MIN_LITERAL:
                found.append(Message(text.strip(), str(path.relative_to(ROOT))))
    return found


def listed_messages() -> list[str]:
    """The messages docs/troubleshooting.md lists: the code span that opens the first cell of a table row."""
    rows = table_rows((DOCS / "troubleshooting.md").read_text(encoding="utf-8"))
    spans = [re.match(r"`([^`]+)`", row[0]) for row in rows if row]
    return [span.group(1) for span in spans if span]


def test_the_walk_finds_the_messages():
    texts = {m.text for m in code_messages()}
    assert len(texts) > 120
    # one of each kind: raised, made by a helper, a subclass's default, a refusal, a finding
    assert "The limit must be zero or more." in texts
    assert '"{}": rate must be a number such as 0.005.' in texts
    assert "Cancelled by the user; a rerun finishes what is not done." in texts
    assert any(t.startswith(REFUSAL) for t in texts)
    assert "No dataset folder is given; choose the folder with the training images." in texts


def test_every_message_is_in_troubleshooting_once():
    messages: dict[str, list[str]] = {}
    for message in code_messages():
        if message.text.replace(PLACEHOLDER, "").strip(" .:;"):  # not a bare "{}": that passes another one on
            messages.setdefault(message.text, []).append(message.where)
    candidates = [Message(text, ", ".join(where)) for text, where in messages.items()]
    listed = listed_messages()
    owners: dict[str, list[str]] = {m.text: [] for m in candidates}
    for shown in listed:
        matching = [m for m in candidates if m.matches(shown)]
        if matching:
            best = max(m.literal for m in matching)
            for m in matching:
                if m.literal == best:  # the most specific message a listed one is
                    owners[m.text].append(shown)
    problems = [f"not listed: {m.text!r} ({m.where})" for m in candidates if not owners[m.text]]
    problems += [f"listed {len(owners[m.text])} times: {m.text!r}: {owners[m.text]}" for m in candidates
                 if len(owners[m.text]) > 1]
    assert problems == []


def test_everything_troubleshooting_lists_is_still_said():
    strings = code_strings() + [m for m in code_messages() if len(m.text.replace(PLACEHOLDER, "")) >= MIN_LITERAL]
    stale = [shown for shown in listed_messages() if not any(s.matches(shown) for s in strings)]
    assert stale == []
