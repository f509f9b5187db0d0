#!/usr/bin/env python3
"""The package's structure, read from its own imports: checks and a picture.

    python3 tools/architecture.py             # figures and every breach of the rules
    python3 tools/architecture.py --check     # exit 1 on a breach, or if the docs are stale
    python3 tools/architecture.py --write     # rewrite docs/architecture.svg and the
                                              # generated block of docs/architecture.md

The rules (issue 24): each folder of python/microattention is one stage of the
pipeline, and a module imports only its own stage, the kit, or a stage below
(STAGES, bottom first); no import circles; no project module imported inside a
function; no private name (_x) taken from another module; no source file over
MAX_LINES lines and no function over MAX_FUNCTION lines; a command module
(one that cli.py's COMMANDS names) is imported only by the DRIVERS. Plain Python (ast):
nothing of the package is imported, so no Caffe is needed.
"""
import argparse
import ast
import os
import sys
from collections import OrderedDict, defaultdict
from html import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "microattention"
MAX_LINES = 400
MAX_FUNCTION = 60

# stage -> (level, what it does, what it hands on). Bottom first; a stage may
# import a stage of a lower level and the kit, never one above or beside it.
STAGES = OrderedDict([
    ("kit", (0, "errors, files, paper, protocols, augment, metrics, locks, blas", "")),
    ("datasets", (1, "the seven databases' readers; the index CSV; the class table",
                  "index CSV (one row per apex frame)")),
    ("nets", (1, "prototxt, solvers, caffemodel I/O, surgery and transfer, Table 3",
              "prototxt, solver.prototxt, .caffemodel")),
    ("faces", (2, "face location (dlib + AAM), 240x240 gray crops, AAM training",
               "faces folder: crops PNG + landmarks .pts + faces.csv")),
    ("lmdbs", (2, "balancing, augmentation and LMDB writing", "train/test LMDBs + sidecar CSV")),
    ("folds", (3, "HDE, CDE and LOSO splits", "folds JSON (the samples of each fold)")),
    ("train", (4, "one fold or a protocol through Caffe; run layout; provenance; Slurm",
               "runs/<protocol>/<net>/<fold>/: predictions.csv, final.caffemodel, caffe.log, "
               "settings.json, done.json")),
    ("report", (5, "WAR/UAR/F1, confusion matrices, the paper's tables", "report.md/.html, CSV")),
    ("attention", (5, "attention maps, AU regions, statistics, Figure 4",
                   "overlays PNG, scores CSV")),
    ("deploy", (6, "export a trained fold; predict on a user's video",
                "model folder, prediction.json")),
    ("demo", (7, "the whole pipeline on generated faces; the demo-data generator",
              "workspace/demo/: demo.md, report, Figure 4")),
    ("reproduce", (7, "the paper's tables from the user's databases: discovery, plan, "
                      "estimates, the lower commands run as subprocesses",
                   "OUT/tables/: one report per table; OUT/reproduce/: plan, commands.log")),
    ("cli", (8, "python3 -m microattention <command> loads a stage's command", "")),
])
CLI_MODULES = ("cli", "__main__")
# the stages that run other stages' commands in-process (as a user would type them)
DRIVERS = ("cli", "demo")


def stage_of(module):
    """'microattention.train.layout' -> 'train'; flat modules are the kit."""
    parts = module.split(".")
    if len(parts) == 1:
        return "kit"
    if parts[1] in STAGES and parts[1] not in ("kit", "cli"):
        return parts[1]
    return "cli" if parts[1] in CLI_MODULES else "kit"


class Module:
    def __init__(self, name, path, tree, lines):
        self.name, self.path, self.tree, self.lines = name, path, tree, lines
        self.imports = []        # (target module, line, inside a function, names)
        self.long_functions = []  # (name, lines)


def discover(root):
    """module name -> Module, for every .py file of the package."""
    base = os.path.join(root, "python", PACKAGE)
    modules = OrderedDict()
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, os.path.dirname(base))[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            modules[".".join(rel)] = Module(".".join(rel), path, ast.parse(text, path),
                                            text.count("\n"))
    return modules


def resolve(modules, base, names):
    """The project modules an import names: 'from a.b import c' is a.b.c when that
    is a module, else a.b."""
    found = []
    for alias in names:
        full = base + "." + alias if alias else base
        found.append((full if full in modules else base, alias))
    return found


def read_imports(modules):
    for module in modules.values():
        walk(module, modules, module.tree, inside=False)


def walk(module, modules, node, inside):
    for child in ast.iter_child_nodes(node):
        is_function = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = child.end_lineno - child.lineno + 1
            if length > MAX_FUNCTION:
                module.long_functions.append((child.name, length))
        if isinstance(child, ast.Import):
            for alias in child.names:
                note_import(module, modules, alias.name, [None], child.lineno, inside)
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            note_import(module, modules, child.module, [a.name for a in child.names],
                        child.lineno, inside)
        walk(module, modules, child, inside or is_function)


def note_import(module, modules, base, names, line, inside):
    if base.split(".")[0] != PACKAGE:
        return      # a library: lazy ones are allowed (with a comment saying why)
    for target, name in resolve(modules, base, names):
        module.imports.append((target, line, inside, name))


def graph(modules):
    """module -> sorted set of project modules it imports (packages' faces left out)."""
    edges = defaultdict(set)
    for module in modules.values():
        for target, _, _, _ in module.imports:
            if target != module.name and target in modules and target != PACKAGE:
                edges[module.name].add(target)
    return edges


def circles(modules, edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in modules:
        if v not in index:
            visit(v)
    return sorted(found)


def breaches(modules):
    """Every breach of the rules, as one line each (empty when the tree keeps them)."""
    out = []
    edges = graph(modules)
    commands = command_modules(modules)
    for component in circles(modules, edges):
        out.append("import circle: " + " <-> ".join(component))
    for module in modules.values():
        rel = os.path.relpath(module.path, ROOT)
        here = stage_of(module.name)
        if module.lines > MAX_LINES:
            out.append("%s: %d lines (at most %d)" % (rel, module.lines, MAX_LINES))
        for name, length in module.long_functions:
            out.append("%s: function %s is %d lines (at most %d)"
                       % (rel, name, length, MAX_FUNCTION))
        for target, line, inside, name in module.imports:
            there = stage_of(target)
            if inside:
                out.append("%s:%d: imports %s inside a function" % (rel, line, target))
            if name and name.startswith("_") and not name.startswith("__"):
                out.append("%s:%d: takes the private name %s from %s" % (rel, line, name, target))
            if there not in (here, "kit") and STAGES[there][0] >= STAGES[here][0]:
                out.append("%s:%d: stage %s imports %s (stage %s, not below it)"
                           % (rel, line, here, target, there))
            if target in commands and module.name != target and here not in DRIVERS:
                out.append("%s:%d: imports the command module %s" % (rel, line, target))
        out.extend(private_attributes(module, modules, rel))
    return out


def command_modules(modules):
    """The modules cli.py's COMMANDS table names, and every <stage>/command.py."""
    found = {name for name in modules if name.endswith(".command")}
    cli = modules.get(PACKAGE + ".cli")
    for node in ast.walk(cli.tree) if cli else ():
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "COMMANDS" for t in node.targets):
            for value in ast.literal_eval(node.value).values():
                found.add(value[0])
    return found


def private_attributes(module, modules, rel):
    """mod._name where mod is a project module bound by an import."""
    bound = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:
                full = node.module + "." + alias.name
                if full in modules:
                    bound[alias.asname or alias.name] = full
    out = []
    for node in ast.walk(module.tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in bound and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            out.append("%s:%d: uses the private name %s.%s"
                       % (rel, node.lineno, bound[node.value.id], node.attr))
    return out


def stage_edges(modules):
    """(stage, stage) pairs with at least one import, the stage's own left out."""
    pairs = set()
    for source, targets in graph(modules).items():
        for target in targets:
            a, b = stage_of(source), stage_of(target)
            if a != b:
                pairs.add((a, b))
    return sorted(pairs, key=lambda p: (-STAGES[p[0]][0], p[0], -STAGES[p[1]][0], p[1]))


def stage_modules(modules):
    """stage -> its modules' short names ('layout', 'data.people'), in file order."""
    out = OrderedDict((s, []) for s in STAGES)
    for name in modules:
        parts = name.split(".")
        stage = stage_of(name)
        short = ".".join(parts[1:] if stage in ("kit", "cli") else parts[2:])
        if short and not modules[name].path.endswith("__init__.py"):   # packages' faces left out
            out[stage].append(short)
    return out


def figures(modules):
    """The figures the closing notes quote: files, longest, imports inside functions, circles."""
    longest = max(modules.values(), key=lambda m: m.lines)
    inside = sum(len({i[1] for i in m.imports if i[2]}) for m in modules.values())
    functions = sum(len(m.long_functions) for m in modules.values())
    return OrderedDict([
        ("files", len(modules)),
        ("longest file", "%s (%d lines)" % (os.path.relpath(longest.path, ROOT), longest.lines)),
        ("files over %d lines" % MAX_LINES, sum(1 for m in modules.values()
                                               if m.lines > MAX_LINES)),
        ("functions over %d lines" % MAX_FUNCTION, functions),
        ("project imports inside functions", inside),
        ("import circles", len(circles(modules, graph(modules)))),
    ])


# ------------------------------------------------------------------ the picture

def wrap(words, width):
    lines, line = [], ""
    for word in words:
        candidate = (line + "  " + word) if line else word
        if len(candidate) > width and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + ([line] if line else [])


def svg(modules):
    """Stages from the top of the pipeline down, modules inside; each arc on the right
    is 'imports from' and points down to the stage imported."""
    members = stage_modules(modules)
    order = sorted(STAGES, key=lambda s: (-STAGES[s][0], list(STAGES).index(s)))
    x, width, top = 20, 560, 54
    boxes, y = {}, top
    for stage in order:
        text = wrap(members[stage], 78)
        height = 30 + 15 * len(text)
        boxes[stage] = (y, height, text)
        y += height + 14
    edges = stage_edges(modules)
    rank = {s: i for i, s in enumerate(order)}
    span = max([rank[b] - rank[a] for a, b in edges] or [1])
    total_width = x + width + 40 + 22 * span + 20
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="DejaVu Sans, sans-serif" font-size="12">' % (total_width, y + 10),
           '<defs><marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" '
           'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14" font-weight="bold">python/microattention: '
           'one box per stage, the top of the pipeline first</text>' % x,
           '<text x="%d" y="40" fill="#555">an arrow: imports from (arrows to the kit, '
           'which every stage may use, left out; red: a breach)</text>' % x]
    for stage in order:
        by, height, text = boxes[stage]
        level, what, _ = STAGES[stage]
        out.append('<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="#eef3fa" '
                   'stroke="#3a6ea5"/>' % (x, by, width, height))
        out.append('<text x="%d" y="%d" font-weight="bold">%s/  <tspan font-weight="normal" '
                   'fill="#555">level %d: %s</tspan></text>'
                   % (x + 8, by + 17, escape(stage), level, escape(what)))
        for i, line in enumerate(text):
            out.append('<text x="%d" y="%d" font-family="DejaVu Sans Mono, monospace" '
                       'font-size="11">%s</text>' % (x + 14, by + 33 + 15 * i, escape(line)))
    for a, b in edges:
        if b == "kit":
            continue        # every stage may use the kit: its arrows would hide the rest
        ya = boxes[a][0] + boxes[a][1] / 2.0
        yb = boxes[b][0] + 8
        # an import that climbs (a breach) is drawn in red
        bend = x + width + 40 + 22 * abs(rank[b] - rank[a])
        colour = "#555" if rank[b] > rank[a] else "#c00"
        out.append('<path d="M%d,%.0f C%d,%.0f %d,%.0f %d,%.0f" fill="none" stroke="%s" '
                   'stroke-width="1.2" marker-end="url(#head)"/>'
                   % (x + width, ya, bend, ya, bend, yb, x + width + 2, yb, colour))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------- the docs block

DOC = os.path.join("docs", "architecture.md")
PICTURE = os.path.join("docs", "architecture.svg")
BEGIN = "<!-- generated: stages (tools/architecture.py) -->"
END = "<!-- end generated: stages -->"


def block(modules):
    members = stage_modules(modules)
    imports = defaultdict(list)
    for a, b in stage_edges(modules):
        imports[a].append(b)
    rows = ["| stage | level | modules | imports from | hands on |", "|---|---|---|---|---|"]
    for stage in sorted(STAGES, key=lambda s: (STAGES[s][0], list(STAGES).index(s))):
        level, _, hands = STAGES[stage]
        folder = "`%s/`" % stage if stage not in ("kit", "cli") else stage
        rows.append("| %s | %d | %s | %s | %s |" % (
            folder, level, ", ".join(members[stage]),
            ", ".join(imports[stage]) or "-", hands or "-"))
    return "\n".join([BEGIN, ""] + rows + ["", END])


def render_doc(text, modules):
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + block(modules) + text[end:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 on a breach of the rules or a stale docs/architecture.*")
    parser.add_argument("--write", action="store_true",
                        help="rewrite docs/architecture.svg and the block of docs/architecture.md")
    parser.add_argument("--root", default=ROOT, help="the checkout (default: this one)")
    args = parser.parse_args(argv)
    modules = discover(args.root)
    read_imports(modules)
    for key, value in figures(modules).items():
        print("%-36s %s" % (key, value))
    found = breaches(modules)
    paths = [os.path.join(args.root, p) for p in (DOC, PICTURE)]
    old = [open(p, encoding="utf-8").read() if os.path.exists(p) else "" for p in paths]
    new = [render_doc(old[0], modules), svg(modules)]
    if args.write:
        for path, text in zip(paths, new):
            with open(path + ".tmp", "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(path + ".tmp", path)
        print("wrote %s and %s" % (DOC, PICTURE))
    elif new != old:
        found.append("%s or %s is stale: run python3 tools/architecture.py --write"
                     % (DOC, PICTURE))
    for line in found:
        print("BREACH " + line)
    return 1 if (args.check and found) else 0


if __name__ == "__main__":
    sys.exit(main())
