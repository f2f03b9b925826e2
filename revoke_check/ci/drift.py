"""Drift between the model and a kernel tree: ``revoke-check drift --kernel-src DIR``.

For every kernel ``file:function`` a step of the model cites, parse the C file
(tree-sitter, C grammar) and check that

1. the file exists and defines the function;
2. the protocol-relevant operations the model's steps name (lock and unlock
   calls, moves, resets, list insertions and deletions, labels such as
   ``err_undo``), in the model's program order, occur in that order in the
   function's body (a subsequence of the body's calls and labels, in text
   order).

Each difference is reported with ``file:line``.  A step names an operation by
its label (``down_write``, ``get_file_active(buf0)`` -> ``get_file_active``),
through :data:`ALIASES` where the model's label is a summary
(``zap_and_down_write``), or by the procedure a call inlines
(``vfio_pci_dma_buf_move``).  Steps named for what they do rather than for a
call (``idle``, ``clear_revoked``) name no operation and are not compared.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Drift", "drift", "model_ops", "c_ops", "DriftError", "ALIASES"]

ALIASES = {
    "zap_and_down_write": "vfio_pci_zap_and_down_write_memory_lock",
}

RELEVANT = {
    # moves, resets, the BAR zap, list insertions and deletions, the drain
    "vfio_pci_dma_buf_move", "vfio_pci_dma_buf_cleanup", "vfio_pci_zap_bars",
    "vfio_pci_zap_and_down_write_memory_lock", "pci_reset_bus", "pci_try_reset_function",
    "list_add_tail", "list_del_init", "get_file_active", "dma_buf_invalidate_mappings",
    "dma_resv_wait_timeout", "wait_for_completion", "dma_buf_export", "dma_buf_fd",
    "vfio_pci_core_disable", "err_undo",
}
"""Operations compared, besides the acquire and release calls of every declared lock."""


class DriftError(ValueError):
    """The kernel tree or the C grammar is not usable."""


@dataclass
class Finding:
    file: str
    line: int
    function: str
    message: str

    def __str__(self):
        return f"{self.file}:{self.line}: {self.function}: {self.message}"


@dataclass
class Drift:
    checked: list = field(default_factory=list)     # (file, function, number of ops compared)
    findings: list = field(default_factory=list)    # Finding
    lines: dict = field(default_factory=dict)       # (file, function, op index) -> line

    @property
    def ok(self) -> bool:
        return not self.findings


def _op_of_label(label: str) -> str | None:
    base = label.split("(", 1)[0]
    if base in ALIASES:
        return ALIASES[base]
    return base if base.isidentifier() else None


def vocabulary(protocol) -> set:
    """The operations drift compares: :data:`RELEVANT` and every declared lock's verbs."""
    out = set(RELEVANT)
    for lk in protocol.locks:
        out |= {v for v in lk.verbs if v}
        if lk.type == "rwsem":
            out.add("down_write_trylock")
        if lk.type == "mutex":
            out.add("mutex_trylock")
    return out


def model_ops(protocol, model) -> dict:
    """{(file, function): [[operation, ...], ...]}: one sequence per inlined instance, in program order.

    An instance is one call site of a procedure in one thread (a revoking
    and an un-revoking ``vfio_pci_dma_buf_move`` are two).  A step
    contributes the operation its label names, then the release of every
    lock its ``unlock`` events drop; a call contributes its callee.
    """
    vocab = vocabulary(protocol)
    release = {name: info["release"] for name, info in model.lock_table().items()}
    inst: dict = {}          # (thread, instance path) -> ((file, fn), [(key, op)])
    for tr in sorted(model.transitions, key=lambda t: (t.thread, t.pc_value)):
        segs = tr.label.split("/")
        for i, (seg, nxt) in enumerate(zip(segs[:-1], segs[1:])):
            proc = seg.split(":", 1)[0]
            callee = nxt.split(":", 1)[0]
            if callee in vocab:
                src = protocol.procs.get(proc, (None, ""))[1]
                _add(inst, (tr.thread, "/".join(segs[:i]), src), src, f"call:{seg}", callee)
        where = (tr.thread, "/".join(segs[:-1]), tr.source)
        op = _op_of_label(tr.local_label)
        if op in vocab:
            _add(inst, where, tr.source, f"step:{segs[-1]}", op)
        for k, ev in enumerate(tr.events):
            if ev.kind == "unlock" and ev.args and getattr(ev.args[0], "name", None) in release:
                rel = release[ev.args[0].name]
                if rel != op:
                    _add(inst, where, tr.source, f"step:{segs[-1]}#{k}", rel)
    out: dict = {}
    for fk, ops in inst.values():
        seq = [op for _, op in ops]
        if seq and seq not in out.setdefault(fk, []):
            out[fk].append(seq)
    return out


def _add(inst, where, source, key, op):
    if not source or ":" not in source or op is None:
        return
    f, fn = source.rsplit(":", 1)
    if not f.endswith(".c") or op == fn:   # a step named after its own function is the whole call
        return
    fk, ops = inst.setdefault(where, ((f, fn), []))
    if fk == (f, fn) and all(x != key for x, _ in ops):
        ops.append((key, op))


def _parser():
    try:
        import tree_sitter_c
        from tree_sitter import Language, Parser
    except ImportError:
        raise DriftError("drift needs the tree-sitter and tree-sitter-c packages "
                         "(pip install 'revoke-check[drift]')") from None
    return Parser(Language(tree_sitter_c.language()))


def _functions(tree, src: bytes) -> dict:
    """{function name: node} of every function definition."""
    out = {}
    stack = [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "function_definition":
            d = n.child_by_field_name("declarator")
            while d is not None and d.type not in ("function_declarator",):
                d = d.child_by_field_name("declarator")
            if d is not None:
                name = d.child_by_field_name("declarator")
                if name is not None:
                    out[src[name.start_byte:name.end_byte].decode()] = n
            continue
        stack.extend(n.children)
    return out


def c_ops(node, src: bytes) -> list[tuple[str, int]]:
    """(operation, line) of every call and statement label in a function body, in text order."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "call_expression":
            f = n.child_by_field_name("function")
            if f is not None and f.type == "identifier":
                out.append((src[f.start_byte:f.end_byte].decode(), n.start_point[0] + 1, n.start_byte))
        elif n.type == "labeled_statement":
            lab = n.child_by_field_name("label")
            if lab is not None:
                out.append((src[lab.start_byte:lab.end_byte].decode(), n.start_point[0] + 1, n.start_byte))
        stack.extend(reversed(n.children))
    out.sort(key=lambda x: x[2])
    return [(a, b) for a, b, _ in out]


def _compare(f, fn, node, have, want, res):
    """The first operation of ``want`` that the C body does not have in that order, as a Finding."""
    seq = [(op, line) for op, line in have if op in set(want)]
    i = 0
    for k, op in enumerate(want):
        j = next((x for x in range(i, len(seq)) if seq[x][0] == op), None)
        if j is None:
            where = [line for o, line in seq if o == op]
            if where:
                prev = want[k - 1] if k else "the start"
                return Finding(f, where[0], fn, f"{op} does not follow {prev} in the C as it does in the "
                                                f"model (model order: {', '.join(want)})")
            return Finding(f, node.start_point[0] + 1, fn, f"the model has {op}, the C body calls no {op}")
        res.lines[(f, fn, op, k)] = seq[j][1]
        i = j + 1
    return None


def drift(kernel_src, protocol=None, configs=None) -> Drift:
    """Compare every modelled function with the C of ``kernel_src``."""
    from revoke_check.model.protocol import upstream
    protocol = protocol or upstream()
    root = Path(kernel_src)
    if not root.is_dir():
        raise DriftError(f"{kernel_src}: not a directory")
    parser = _parser()
    ops: dict = {}
    for name in (configs or list(protocol.configs)):
        m = protocol.build(protocol.config(name))
        for k, seqs in model_ops(protocol, m).items():
            for seq in seqs:
                if seq not in ops.setdefault(k, []):
                    ops[k].append(seq)
    res = Drift()
    parsed: dict = {}
    for (f, fn), seqs in sorted(ops.items()):
        path = root / f
        if f not in parsed:
            if not path.is_file():
                parsed[f] = None
            else:
                src = path.read_bytes()
                parsed[f] = (src, _functions(parser.parse(src), src))
        if parsed[f] is None:
            res.findings.append(Finding(f, 0, fn, "file not found in the kernel tree"))
            continue
        src, funcs = parsed[f]
        if fn not in funcs:
            res.findings.append(Finding(f, 0, fn, "function not defined in this file"))
            continue
        node = funcs[fn]
        have = c_ops(node, src)
        for want in seqs:
            bad = _compare(f, fn, node, have, want, res)
            if bad:
                res.findings.append(bad)
                break
        res.checked.append((f, fn, sum(len(w) for w in seqs)))
    res.model_ops = ops
    return res
