"""Run one Plesk backend operation as its own process, the way the admin CLI will (tests
run it inside a test namespace with ``ip netns exec``). Prints one JSON object.

    python backend_helper.py CONFIG setup     ensure the localhost allow rules, apply
    python backend_helper.py CONFIG retry     retry_pending(): {"applies": N}
    python backend_helper.py CONFIG sync      kernel := ledger under the lock, then settle
    python backend_helper.py CONFIG status    snapshot: rules, enforced, pending, describe
"""

from __future__ import annotations

import json
import sys

from activeresponse import config as configuration
from activeresponse import operations
from activeresponse.errors import ActiveResponseError


def main(argv: list[str]) -> int:
    cfg = configuration.load(argv[1])
    rt = operations.Runtime(cfg)
    backend = rt.backend
    verb = argv[2]
    try:
        if verb == "setup":
            backend.ensure_safeguards()  # type: ignore[attr-defined]
            out: dict = {}
        elif verb == "retry":
            out = {"applies": backend.retry_pending()}  # type: ignore[attr-defined]
        elif verb == "sync":
            with rt.lock(), rt.ledger.transaction():
                batch = operations.sync(rt)
            backend.settle()
            out = {"actions": batch.actions, "commands": [s.argv for s in batch.steps]}
        elif verb == "status":
            state = backend.read()
            status = backend.pending()  # type: ignore[attr-defined]
            out = {
                "safeguards_ok": backend.safeguards_ok(state),
                "enforced": sorted(str(n.network_address) for n in backend.enforced(state)),
                "pending": status.pending,
                "last_error": status.last_error,
                "describe": backend.describe(),
            }
        else:
            print(f"unknown verb {verb}", file=sys.stderr)
            return 2
    except ActiveResponseError as exc:
        print(json.dumps({"error": str(exc)}))
        return exc.exit_code
    finally:
        rt.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
