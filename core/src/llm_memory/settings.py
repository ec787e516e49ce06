"""Settings, from the environment and a TOML file (``llm-memory.toml`` or ``--config``).

Precedence: explicit overrides > environment variables > the TOML file > defaults. The
TOML file's top-level keys are these settings in lowercase; a table named after a provider
(``[chroma]``, ``[openai]``…) holds that provider's own settings, which its settings model
validates (environment variables with the provider's prefix win over the table). Overrides
take the same shape: ``load_settings(storage_backend="lancedb", lancedb={"uri": "…"})``, and
a provider's table given as an override wins over its environment variables.

Unknown names are refused in one line naming the nearest valid one: an override, a TOML key
or table, and an ``LLM_MEMORY_*`` environment variable (that prefix is llm-memory's own;
other variables cannot be checked, the environment holds unrelated ones).
"""

from __future__ import annotations

import difflib
import json
import os
import threading
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, Secret, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from llm_memory.errors import ConfigError

DEFAULT_CONFIG_FILE = "llm-memory.toml"
#: llm-memory's own environment variables besides the settings' (which have no prefix).
OWN_VARIABLES = (
    "LLM_MEMORY_API_KEY",
    "LLM_MEMORY_CONFIG",
    "LLM_MEMORY_DEBUG",
    "LLM_MEMORY_LOAD_PLUGINS",
    "LLM_MEMORY_SERVE_SCHEDULE",
    "LLM_MEMORY_TRACE_PLUGINS",
    "LLM_MEMORY_URL",
)

#: API key -> "admin", or the user ids the key may touch. JSON text (env) or a TOML table.
ApiKeys = Annotated[
    dict[str, str | list[str]],
    BeforeValidator(lambda v: json.loads(v) if isinstance(v, str) else v),
]


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-memory"


class Settings(BaseSettings):
    """The core's settings. Each field is read from the upper-case environment variable
    of the same name (``STORAGE_BACKEND``, ``MAX_ACTIVE_MEMORIES``…)."""

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)
    _toml_file: ClassVar[Path | None] = None

    # Which provider of each hook kind to use.
    storage_backend: str = Field("chroma", description="Storage backend: chroma, lancedb, memory…")
    embedding_provider: str = Field("hash", description="Embedder: hash (offline), openai, cohere…")
    embedding_model: str | None = Field(
        None, description="Model of the embedder (its default if unset)."
    )
    scorer: str = Field("weighted", description="Scorer that orders the candidates.")
    reranker: str | None = Field(None, description="Reranker applied before scoring (e.g. cohere).")
    summarizer: str = Field("extractive", description="Summarizer for long conversations.")
    snapshot_store: str = Field("local", description="Where snapshots go: local or s3.")

    # Storage.
    vector_store_dir: Path = Field(Path("chroma_db"), description="Directory of embedded stores.")
    collection: str = Field("memories", description="Collection / table name inside the store.")

    # Embedding cache.
    embedding_cache: bool | None = Field(
        None, description="Cache embeddings on disk; default: on for remote embedders."
    )
    embedding_cache_path: Path = Field(
        default_factory=lambda: _cache_home() / "embeddings.sqlite3",
        description="SQLite file of the embedding cache.",
    )

    # Retrieval.
    max_active_memories: int = Field(10, ge=1, le=1000, description="Memories retrieved per turn.")
    retrieval_candidates: int = Field(
        50, ge=1, le=10_000, description="Candidates taken by relevance before scoring."
    )
    min_relevance: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Memories below this relevance (absolute, 0-1) are not retrieved; 0 keeps all.",
    )
    hybrid_search: bool = Field(True, description="Fuse keyword (BM25) with vector search.")
    fusion_vector_weight: float | None = Field(
        None,
        ge=0.0,
        description="Weight of the vector list in the fusion; default: the embedder's own "
        "(1.0, hash 0.1).",
    )
    fusion_keyword_weight: float = Field(
        1.0, ge=0.0, description="Weight of the keyword (BM25) list in the fusion."
    )
    keyword_index: Literal["auto", "core", "native"] = Field(
        "auto",
        description="Keyword index: core (SQLite beside the store), native (the store's own), "
        "auto (native for a store shared across machines, else core).",
    )
    keyword_sync_interval_s: float = Field(
        1.0,
        ge=0.0,
        le=3600.0,
        description="Shared store (Chroma server): the core keyword index pulls other "
        "processes' writes at most this often, before a search (s; 0: before every search).",
    )
    write_batch_window_ms: float = Field(
        2.0,
        ge=0.0,
        le=1000.0,
        description="Group commit: how long a write waits for concurrent ones (ms; 0: never).",
    )
    write_batch_max_items: int = Field(
        256, ge=1, description="Group commit: memories after which a batch stops waiting."
    )
    retention_days: int = Field(90, ge=1, description="`purge` removes memories unused this long.")
    max_metadata_keys: int = Field(64, ge=1, description="Most metadata keys one memory may hold.")
    max_metadata_bytes: int = Field(
        16_384, ge=64, description="Most bytes of metadata (as JSON) one memory may hold."
    )
    max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Largest HTTP request body the API reads (413 beyond)."
    )

    # Agent and chat.
    agent_model: str | None = Field(None, description="PydanticAI model, e.g. openai:gpt-4o-mini.")
    agent_temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature.")
    agent_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL for the agent."
    )
    agent_api_key: SecretStr | None = Field(None, description="API key for agent_base_url.")
    summarize_after_turns: int = Field(
        20, ge=2, description="Conversation turns kept verbatim before older ones are summarized."
    )

    # HTTP API.
    api_host: str = Field("127.0.0.1", description="Address `llm-memory serve` listens on.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port `llm-memory serve` listens on.")
    api_keys: Secret[ApiKeys] = Field(
        default_factory=lambda: Secret({}),
        description='API keys: {"<key>": "admin" or ["user", ...]}; none = loopback clients only.',
    )
    api_rate_limit: float = Field(
        10.0, ge=0, description="Requests per second per API key (0 = off)."
    )
    api_rate_burst: int = Field(
        20, ge=1, description="Requests a key may send at once before the limit."
    )

    # Snapshots.
    snapshot_dir: Path = Field(
        Path("snapshots"), description="Directory of the local snapshot store."
    )
    snapshot_interval: float | None = Field(
        None, gt=0, description="Hours between automatic snapshots in `serve` (off if unset)."
    )
    snapshot_keep: int | None = Field(None, ge=1, description="Snapshots kept by scheduled prune.")
    s3_bucket: str | None = Field(None, description="Bucket of the s3 snapshot store.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)

    def __init__(self, **values: Any) -> None:
        unknown = [k for k in values if k not in type(self).model_fields and not k.startswith("_")]
        if unknown:  # the other sources (environment, file) are checked by load_settings
            raise ConfigError(
                f"Unknown setting {unknown[0]!r}{_nearest(unknown[0], type(self).model_fields)} "
                "(`llm-memory config` lists the settings)."
            )
        super().__init__(**values)

    @property
    def config_file(self) -> Path | None:
        return self.__pydantic_private__.get("config_file") if self.__pydantic_private__ else None

    def section(self, name: str) -> dict[str, Any]:
        """The TOML table named ``name`` (a provider's own settings), or ``{}``."""
        return dict((self.__pydantic_private__ or {}).get("toml", {}).get(name, {}))

    def provider_arguments(self, name: str) -> dict[str, Any]:
        """Provider ``name``'s settings given as an override (``lancedb={...}``), or ``{}``."""
        return dict((self.__pydantic_private__ or {}).get("provider_args", {}).get(name, {}))

    def source(self, name: str) -> str:
        """Where setting ``name`` came from: argument, environment, file or default."""
        private = self.__pydantic_private__ or {}
        if name in private.get("args", ()):
            return "argument"
        if _in_environment(name):
            return "environment"
        if name in private.get("toml", {}):
            return "file"
        return "default"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with ``overrides`` applied, checked like :func:`load_settings`'s."""
        fields, providers = _split_overrides(overrides)
        try:
            updated = type(self).model_validate({**dict(self), **fields})
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from exc
        private = dict(self.__pydantic_private__ or {})
        private["args"] = {*private.get("args", ()), *fields}
        private["provider_args"] = {**private.get("provider_args", {}), **providers}
        updated.__pydantic_private__ = private
        return updated


_lock = threading.Lock()


def _find_config(config_file: str | os.PathLike[str] | None) -> Path | None:
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"Config file {str(path)!r} does not exist.")
        return path
    env = os.environ.get("LLM_MEMORY_CONFIG")
    if env:
        return _find_config(env)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings`; errors become one line naming the setting to fix.

    ``overrides`` are settings by field name, or provider tables (``chroma={"host": …}``).
    """
    _check_own_variables()
    fields, providers = _split_overrides(overrides)
    fields = {k: v for k, v in fields.items() if v is not None}  # None: the other sources decide
    path = _find_config(config_file)
    toml: dict[str, Any] = {}
    if path is not None:
        try:
            toml = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"Cannot read config file {str(path)!r}: {exc}") from exc
        _check_file(toml, path)
    with _lock:
        Settings._toml_file = path
        try:
            settings = Settings(**fields)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, env=True)) from exc
        finally:
            Settings._toml_file = None
    settings.__pydantic_private__ = {
        "toml": toml,
        "config_file": path,
        "args": set(fields),
        "provider_args": providers,
    }
    return settings


# -- refusing unknown names --------------------------------------------------------------------
def _nearest(name: str, valid: Any, show: str = "{!r}") -> str:
    close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
    return f"; did you mean {show.format(close[0])}?" if close else ""


def _split_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict]]:
    """Settings fields, and provider tables; anything else is refused."""
    fields: dict[str, Any] = {}
    providers: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if key in Settings.model_fields:
            fields[key] = value
        elif isinstance(value, dict) and key in provider_names():
            providers[key] = value
        else:
            valid = [*Settings.model_fields, *provider_names()]
            raise ConfigError(
                f"Unknown setting {key!r}{_nearest(key, valid)} (`llm-memory config` lists the "
                "settings; a provider's own go in a dict named after it, e.g. lancedb={'uri': ...})."
            )
    return fields, providers


def _check_file(toml: dict[str, Any], path: Path) -> None:
    for key, value in toml.items():
        if key in Settings.model_fields:
            continue
        if isinstance(value, dict):
            names = provider_names()  # only now: it loads the plugins
            if key not in names:
                raise ConfigError(
                    f"Unknown table [{key}] in {str(path)!r}: not a setting nor a provider"
                    f"{_nearest(key, names, '[{}]')} (provider tables: {', '.join(sorted(names))})."
                )
            continue
        raise ConfigError(
            f"Unknown setting {key!r} in {str(path)!r}{_nearest(key, Settings.model_fields)} "
            "(`llm-memory config` lists the settings)."
        )


def _check_own_variables() -> None:
    for name in os.environ:
        upper = name.upper()
        if upper.startswith("LLM_MEMORY_") and upper not in OWN_VARIABLES:
            raise ConfigError(
                f"Unknown environment variable {name}{_nearest(upper, OWN_VARIABLES, '{}')} "
                f"(LLM_MEMORY_* variables are llm-memory's own: {', '.join(OWN_VARIABLES)})."
            )


def provider_names() -> set[str]:
    """Names a provider table may have: every installed provider's, and the well-known ones."""
    from llm_memory.plugins import KNOWN_PROVIDERS, get_plugin_manager
    from llm_memory.providers import KINDS

    pm = get_plugin_manager()
    names = {name for kind in KINDS for name in pm.providers(kind)}
    return names | set(KNOWN_PROVIDERS) | {e.entry_point for e in pm.load_errors}


def _in_environment(name: str) -> bool:
    upper = name.upper()
    return any(key.upper() == upper for key in os.environ)


def build_options(model: type[BaseSettings], settings: Settings, section: str) -> BaseSettings:
    """Validate a provider's settings model from the environment and its TOML table."""
    try:
        from_env = model().model_dump(exclude_unset=True)
        arguments = settings.provider_arguments(section)
        return model(**{**settings.section(section), **from_env, **arguments})
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(exc, env=True, prefix=_env_prefix(model), model=model)
        ) from exc


def _env_prefix(model: type[BaseSettings]) -> str:
    return str(model.model_config.get("env_prefix") or "")


def describe_validation_error(
    exc: ValidationError, env: bool = False, prefix: str = "", model: type[Any] | None = None
) -> str:
    """One line for invalid settings, naming each field and its environment variable."""
    return "Invalid settings: " + validation_problems(exc, env=env, prefix=prefix, model=model)


def validation_problems(
    exc: ValidationError, env: bool = False, prefix: str = "", model: type[Any] | None = None
) -> str:
    """Every problem of a validation error on one line: ``field: message; …``.

    With ``model``, an unknown key names the nearest of the model's fields."""
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "input"
        name = f"{field} ({(prefix + field).upper()})" if env and err["loc"] else field
        message = err["msg"]
        if model is not None and err["type"] == "extra_forbidden":
            message = "unknown setting" + _nearest(field, model.model_fields)
        problems.append(f"{name}: {message}")
    return "; ".join(problems)


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON-able values, secrets masked."""
    out: dict[str, Any] = {}
    for name, value in settings:
        if isinstance(value, SecretStr | Secret):
            out[name] = "********" if value.get_secret_value() else ""
        elif isinstance(value, Path):
            out[name] = str(value)
        else:
            out[name] = value
    return out
