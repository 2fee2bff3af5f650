"""A service that is down: its breaker (zixir.toml [modules.clusterdown]) opens."""


class ServiceDown(Exception):
    pass


def call() -> None:
    raise ServiceDown("the service is down")
