"""Worked example: two proposed changes to vfio_pci_dev_set_hot_reset, as variants.

    revoke-check check --variant examples/my_change.py:open-count-in-helper
    revoke-check check --variant examples/my_change.py:skip-undo-if-reset-failed

A variant receives a copy of the upstream protocol and edits procedures by
name and steps by label (see ``revoke-check list`` and model/*.py for both).
"""
from revoke_check.model.expr import and_
from revoke_check.model.lang import Branch, Event, NEXT, Step
from revoke_check.model.locks import up_write
from revoke_check.model.variants import hot_reset_cursor, variant


@variant("open-count-in-helper")
def open_count_in_helper(p):
    """Jason's suggestion: test open_count inside __vfio_pci_memory_enabled.

    err_undo then makes a single test; the behaviour is unchanged, so every
    property still holds.
    """
    def err_undo(t):
        v, cur = t.v, hot_reset_cursor(t)
        br = [Branch(cur == 0, goto="mutex_unlock", note="reached the list head")]
        for k, dev in enumerate(t.cfg.devices):
            enabled = and_(v.open[k], v.memory_enabled(k))  # the helper tests open_count first
            ev = (Event("err_undo_visit", (k,)),)
            br += [Branch(and_(cur == k + 1, enabled), goto=NEXT,
                          events=ev + (Event("mem_enabled_eval", (k,)),)),
                   Branch(and_(cur == k + 1, ~enabled), goto="up_write", events=ev)]
        return Step("err_undo", br, "Walk back from vdev: un-revoke where the helper says memory is enabled.")
    p.replace_step("vfio_pci_dev_set_hot_reset", "err_undo", err_undo)


@variant("skip-undo-if-reset-failed")
def skip_undo_if_reset_failed(p):
    """A tempting shortcut: if pci_reset_bus fails, just unlock without un-revoking.

    Violates undo-restores-every-revoke: the bufs stay revoked although the
    device was never reset and memory is still enabled.
    """
    def reset(t):
        cur, n = hot_reset_cursor(t), len(t.cfg.devices)
        return Step("pci_reset_bus", [
            Branch(do={cur: n}, goto="err_undo", choice="reset ok",
                   events=tuple(Event("hw_reset", (k,)) for k in range(n))),
            Branch(do={cur: n}, goto="unlock_only", choice="reset fails"),
        ], "Reset the bus; on failure go straight to unlocking.")

    def unlock_only(t):
        cur = hot_reset_cursor(t)
        br = [Branch(cur == 0, goto="mutex_unlock")]
        for k in range(len(t.cfg.devices)):
            up, ev = up_write(t, k)
            br.append(Branch(cur == k + 1, {**up, cur: k}, goto="unlock_only",
                             events=(ev, Event("revoke_window_end", (k,)))))
        return Step("unlock_only", br, "up_write every memory_lock, last to first, without un-revoking.")

    p.replace_step("vfio_pci_dev_set_hot_reset", "pci_reset_bus", reset)
    p.insert_after("vfio_pci_dev_set_hot_reset", "pci_reset_bus", unlock_only)
