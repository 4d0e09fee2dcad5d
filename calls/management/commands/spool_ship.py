"""`manage.py spool_ship [--every SECONDS]`: this host's sweep of spools left behind (a killed
Daphne, a failed upload) to the object store. Run it when the host starts and keep it running
(deploy/systemd/stellar-spool-ship.service); the logic is calls.tasks.ship_host_spools."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from calls.recordings.shipping import SWEEP_GRACE_SECONDS, host_id
from calls.recordings.store import object_store
from calls.tasks import ship_host_spools


class Command(BaseCommand):
    help = "Ship this host's leftover call spools to STELLAR_SPOOL_STORE, once or periodically."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=float, default=0.0, help="repeat every SECONDS (default: once)"
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=SWEEP_GRACE_SECONDS,
            help="leave spools written less than SECONDS ago to their own stream's shipping",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every: float = options["every"]
        grace: float = options["grace"]
        if object_store() is None:
            self.stdout.write("STELLAR_SPOOL_STORE is not set: spools stay on this machine.")
            return
        self.stdout.write(
            f"spool_ship: sweeping host {host_id()}" + (f" every {every:g}s" if every else "")
        )
        while True:
            shipped = ship_host_spools(grace=grace)
            if shipped:
                self.stdout.write(f"spool_ship: shipped the spools of calls {shipped}")
            close_old_connections()
            if not every:
                return
            time.sleep(every)
