"""Issue 15: what acting for an end user costs a transfer. A finshard_app login passing the
user's session (p_session) vs a superuser acting as itself, same accounts, server and clients,
alternating rounds, pgbench simple and prepared protocols. Prints ratios; asserts nothing.

    .venv/bin/python bench/sessions.py --no-citus   # plain PostgreSQL
    .venv/bin/python bench/sessions.py              # Citus when installed (sessions on the coordinator)
"""

from _common import cluster_from_args, show

from finshard import bench


def main() -> None:
    args, _cluster, dsn = cluster_from_args(__doc__, extra=[
        ("--rounds", {"type": int, "default": 3, "help": "alternating rounds of each side"})])
    show(bench.session_cost(dsn, clients=args.clients, seconds=args.seconds, rounds=args.rounds))


if __name__ == "__main__":
    main()
