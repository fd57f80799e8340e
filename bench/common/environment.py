"""What a result needs to say about where it was measured."""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

from healthcare.db import asyncpg_dsn

PACKAGES = (
    "strawberry-graphql",
    "starlette",
    "uvicorn",
    "uvloop",
    "websockets",
    "broadcaster",
    "redis",
    "tortoise-orm",
    "asyncpg",
)


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def use_uvloop() -> None:
    """The generator runs on uvloop, as uvicorn does: it shares the cores with the servers,
    so the less CPU it spends per frame the less it perturbs them."""
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _redis_version() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        return "not found"
    return subprocess.run(  # noqa: S603 (a fixed binary and argument)
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()


def code() -> dict[str, Any]:
    """The commit measured, and how many files differed from it (the tree may be in flux)."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603 (read-only git queries)
            ["git", "--no-optional-locks", *args],  # noqa: S607 (git from PATH)
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()

    changed = [line for line in git("status", "--porcelain").splitlines() if line]
    return {"commit": git("rev-parse", "HEAD"), "changed_files": changed}


def machine() -> dict[str, Any]:
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cores": os.cpu_count(),
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "cpu": _cpu_model(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis": _redis_version(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


async def database_description(postgres_url: str | None, pool_max: int | None) -> dict[str, Any]:
    if postgres_url is None:
        return {"kind": "SQLite file in a temporary DATA_DIR"}
    connection = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        version = await asyncio.wait_for(connection.fetchval("SHOW server_version"), 10)
    finally:
        await connection.close()
    return {
        "kind": "PostgreSQL, throwaway database (created, migrated, dropped by the run)",
        "server_version": version,
        "server": postgres_url.rsplit("@", 1)[-1],
        "pool": f"asyncpg, 1 to {pool_max} connections"
        if pool_max
        else "Tortoise default (asyncpg, 1 to 5 connections)",
    }
