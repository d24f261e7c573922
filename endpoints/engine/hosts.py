"""Model Studio and PAI-EAS host names and base URLs: what a URL says about itself.

Pure functions with no database access, shared by the registration rules, the
"paste a URL" box, the snippets, the probe engine and the simulator. The host forms
and their sources are in docs/domain.md ("Domains").
"""

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from .codes import ApiStyle, Kind
from .routes import EAS_SERVICE_PREFIX, STYLES, style_from_path

# The shared public hosts of each region (the seed of Region.public_hosts).
PUBLIC_HOSTS = {
    "dashscope.aliyuncs.com": "cn-beijing",
    "dashscope-intl.aliyuncs.com": "ap-southeast-1",
    "dashscope-us.aliyuncs.com": "us-east-1",
    "cn-hongkong.dashscope.aliyuncs.com": "cn-hongkong",
}

_ID = r"[a-z0-9*{}<>]+(?:-[a-z0-9*{}<>]+)*"  # an ID, possibly masked as in the docs (ep-***)
# A region code, or a placeholder for one as the docs write it ({region}, {RegionId}).
_REGION = r"(?:[a-z]{2}-[a-z]+(?:-[a-z]+)?(?:-\d+)?|\{[a-z]*\}|<[a-z]*>)"
_LABEL = r"[a-z0-9_*{}<>-]+"

HOST_PATTERNS: list[tuple[str, re.Pattern]] = [
    (
        "finance",
        re.compile(
            rf"^ep-(?P<instance>{_ID})\.(?P<service>epsrv-{_ID})\."
            rf"(?P<region>{_REGION})\.privatelink\.aliyuncs\.com$"
        ),
    ),
    (
        "pl_default_regional",
        re.compile(
            rf"^ep-(?P<instance>{_ID})\.dashscope\.(?P<region>{_REGION})\.privatelink\.aliyuncs\.com$"
        ),
    ),
    ("pl_default_short", re.compile(rf"^ep-(?P<instance>{_ID})\.privatelink\.aliyuncs\.com$")),
    ("pl_custom", re.compile(rf"^vpc-(?P<region>{_REGION})\.dashscope\.aliyuncs\.com$")),
    (
        "pl_custom_instance",
        re.compile(rf"^vpc-(?P<instance>{_ID})\.(?P<region>{_REGION})\.dashscope\.aliyuncs\.com$"),
    ),
    ("trial", re.compile(rf"^trial\.(?P<region>{_REGION})\.maas\.aliyuncs\.com$")),
    (
        "workspace",
        re.compile(rf"^(?P<workspace>{_LABEL})\.(?P<region>{_REGION})\.maas\.aliyuncs\.com$"),
    ),
    (
        "eas_vpc",
        re.compile(rf"^(?P<uid>{_LABEL})\.vpc\.(?P<region>{_REGION})\.pai-eas\.aliyuncs\.com$"),
    ),
    (
        "eas_public",
        re.compile(rf"^(?P<uid>{_LABEL})\.(?P<region>{_REGION})\.pai-eas\.aliyuncs\.com$"),
    ),
    ("private_dns", re.compile(rf"^(?P<record>{_LABEL})\.dashscope\.aliyuncs\.com$")),
]

FORM_KIND = {
    "finance": Kind.FINANCE_PRIVATELINK,
    "pl_default_regional": Kind.PRIVATELINK_DEFAULT,
    "pl_default_short": Kind.PRIVATELINK_DEFAULT,
    "pl_custom": Kind.PRIVATELINK_CUSTOM,
    "pl_custom_instance": Kind.PRIVATELINK_CUSTOM,
    "trial": Kind.PUBLIC,
    "workspace": Kind.PUBLIC,
    "public": Kind.PUBLIC,
    "eas_vpc": Kind.EAS_VPC,
    "eas_public": Kind.EAS_PUBLIC,
    "private_dns": Kind.PRIVATELINK_CUSTOM,
}

# Human descriptions of the expected host for each kind (form hints, error messages).
KIND_HOST_HINT = {
    Kind.PUBLIC: "dashscope.aliyuncs.com, dashscope-intl.aliyuncs.com, dashscope-us.aliyuncs.com "
    "or {WorkspaceId}.{region}.maas.aliyuncs.com",
    Kind.PRIVATELINK_DEFAULT: "ep-{InstanceId}.dashscope.{region}.privatelink.aliyuncs.com "
    "(or ep-{InstanceId}.privatelink.aliyuncs.com), http:// only",
    Kind.PRIVATELINK_CUSTOM: "vpc-{region}.dashscope.aliyuncs.com, https://",
    Kind.CROSS_REGION: "ep-{InstanceId}.dashscope.{service region}.privatelink.aliyuncs.com, http:// only",
    Kind.FINANCE_PRIVATELINK: "ep-{InstanceId}.epsrv-{ServiceId}.cn-shanghai-finance-1"
    ".privatelink.aliyuncs.com, http:// only",
    Kind.EAS_PUBLIC: "http(s)://{uid}.{region}.pai-eas.aliyuncs.com/api/predict/{service}",
    Kind.EAS_VPC: "http(s)://{uid}.vpc.{region}.pai-eas.aliyuncs.com/api/predict/{service}",
}

_PLACEHOLDER = re.compile(r"\*|\{[^}]*\}|<[^>]*>")
# ASCII only: in the Chinese docs a URL runs straight into the sentence ("…/generation中的…").
# Case-insensitive for the scheme alone: with re.IGNORECASE the non-ASCII range would also
# exclude "s" and "k" (their case folds include U+017F and U+212A).
_URL_IN_TEXT = re.compile(r"(?i:https?)://[^\s'\"\\`\u0080-\uffff]+")
_BARE_HOST_IN_TEXT = re.compile(
    r"(?<![\w.-])(?:[a-z0-9*{}<>_-]+\.)+aliyuncs\.com(?::\d+)?(?:/[^\s'\"\\`]*)?", re.IGNORECASE
)
_EAS_SERVICE_PATH = re.compile(rf"^({re.escape(EAS_SERVICE_PREFIX)}[^/]+)")

UNDERSCORE_EXPLANATION = (
    "DNS names may contain only letters, digits and hyphens (-): an underscore makes API "
    "calls fail (the most common Private DNS mistake in the docs). "
)


@dataclass
class HostInfo:
    """What a host name says: its form, the kind it implies and the IDs inside it."""

    host: str
    form: str | None = None
    kind: str | None = None
    region: str | None = None
    instance_id: str | None = None
    workspace_id: str | None = None
    eas_uid: str | None = None
    finance_service_id: str | None = None

    @property
    def is_default_domain(self) -> bool:
        return self.form in {"finance", "pl_default_regional", "pl_default_short"}


def classify_host(host: str, public_hosts: dict[str, str] | None = None) -> HostInfo:
    host = host.lower().rstrip(".")
    public_hosts = PUBLIC_HOSTS if public_hosts is None else public_hosts
    if host in public_hosts:
        return HostInfo(host=host, form="public", kind=Kind.PUBLIC, region=public_hosts[host])
    for form, pattern in HOST_PATTERNS:
        match = pattern.match(host)
        if not match:
            continue
        groups = match.groupdict()
        return HostInfo(
            host=host,
            form=form,
            kind=FORM_KIND[form],
            region=None
            if _PLACEHOLDER.search(groups.get("region") or "")
            else groups.get("region"),
            instance_id=("ep-" if "pl_default" in form or form == "finance" else "vpc-")
            + groups["instance"]
            if groups.get("instance")
            else None,
            workspace_id=groups.get("workspace"),
            eas_uid=groups.get("uid"),
            finance_service_id=groups.get("service"),
        )
    return HostInfo(host=host)


def host_problems(host: str) -> list[str]:
    """Why a host name is not a usable DNS name (empty list: it is fine)."""
    if not host:
        return ["Enter a host name."]
    problems = []
    if "_" in host:
        fixed = host.replace("_", "-")
        problems.append(
            f"{UNDERSCORE_EXPLANATION}Use {fixed} instead of {host}, and fix the Private DNS "
            "host record the same way."
        )
    if _PLACEHOLDER.search(host):
        problems.append(
            "The host still contains a placeholder from the docs (*, {…} or <…>); "
            "replace it with your real endpoint, workspace or service ID."
        )
    leftover = re.sub(r"[a-z0-9.\-_*{}<>]", "", host.lower())
    if leftover:
        chars = " ".join(sorted(set(leftover)))
        problems.append(f"Host names may contain only letters, digits, '-' and dots, not: {chars}")
    labels = host.split(".")
    if any(len(label) > 63 for label in labels) or len(host) > 253:
        problems.append("A DNS label is at most 63 characters and a name at most 253.")
    if any(label == "" for label in labels) and not host.endswith("."):
        problems.append("The host has an empty label (two dots in a row).")
    if any(label.startswith("-") or label.endswith("-") for label in labels if label):
        problems.append("A DNS label cannot start or end with a hyphen.")
    return problems


@dataclass
class ParsedUrl:
    """A base URL taken apart; `url` is the normalized form the registry stores."""

    url: str
    scheme: str
    host: str
    port: int | None
    path: str
    info: HostInfo
    api_style: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self):
        return self.info.kind

    @property
    def region(self):
        return self.info.region

    @property
    def has_placeholder(self) -> bool:
        return bool(_PLACEHOLDER.search(self.host))

    @property
    def origin(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}"


def parse_url(raw: str, public_hosts: dict[str, str] | None = None) -> ParsedUrl:
    """Take a base URL (or a full request URL) apart. Raises ValueError if it isn't one."""
    raw = raw.strip()
    if not raw:
        raise ValueError("Enter a URL.")
    if "://" not in raw:
        raise ValueError("Start the URL with http:// or https://.")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise ValueError(f"{scheme}:// is not supported: use http:// or https://.")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    host, port = netloc, None
    if netloc.startswith("["):
        raise ValueError("Use the endpoint's domain name, not an IP address.")
    if ":" in netloc:
        host, _, port_text = netloc.rpartition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"'{port_text}' is not a port number.")
        port = int(port_text)
    host = host.lower().rstrip(".")
    if not host:
        raise ValueError("The URL has no host.")
    info = classify_host(host, public_hosts)
    path = parts.path.rstrip("/")
    style = style_from_path(path)
    if info.kind in {Kind.EAS_PUBLIC, Kind.EAS_VPC}:
        style = ApiStyle.EAS
    base_path = ""
    if style == ApiStyle.EAS:
        match = _EAS_SERVICE_PATH.match(path)
        base_path = match.group(1) if match else ""
    default_port = 443 if scheme == "https" else 80
    if port == default_port:
        port = None
    origin = f"{scheme}://{host}{f':{port}' if port else ''}"
    return ParsedUrl(
        url=origin + base_path,
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        info=info,
        api_style=style,
    )


def find_url(text: str) -> str | None:
    """The first URL (or bare *.aliyuncs.com host) in a pasted curl line, code or URL."""
    match = _URL_IN_TEXT.search(text)
    if match:
        return match.group(0).rstrip(").,;:'\"")
    match = _BARE_HOST_IN_TEXT.search(text)
    if match:
        candidate = match.group(0).rstrip(").,;:'\"")
        info = classify_host(candidate.split("/")[0].split(":")[0])
        scheme = "http" if info.is_default_domain else "https"
        return f"{scheme}://{candidate}"
    return None


def base_url(origin_or_url: str, api_style: str) -> str:
    """The base URL an SDK is given: the host plus the style's path (EAS: the service URL)."""
    routes = STYLES.get(api_style)
    return origin_or_url.rstrip("/") + (routes.base_path if routes else "")


def parse_resolver(text: str) -> tuple[str, int]:
    """'host' or 'host:port' (IPv6 as '[addr]:port') → (address, port). Raises ValueError."""
    text = (text or "").strip()
    if not text:
        raise ValueError("Enter the DNS resolver's address, e.g. 100.100.2.136.")
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError("Write an IPv6 resolver with a port as [address]:port.")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"'{port_text}' is not a port number.")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"'{host}' is not an IP address: a VPC's resolver is given by address "
            "(Alibaba Cloud's internal resolvers are 100.100.2.136 and 100.100.2.138)."
        ) from None
    if not 0 < port < 65536:
        raise ValueError(f"{port} is not a port number.")
    return host, port


def parse_override(value: str) -> tuple[list[str], str | None]:
    """An override value is addresses ('10.0.0.5' or '10.0.0.5, 10.0.1.5') or a CNAME target."""
    items = [item.strip() for item in str(value).split(",") if item.strip()]
    if not items:
        raise ValueError("Give an address, a comma-separated list of addresses, or a host name.")
    addresses = []
    for item in items:
        try:
            addresses.append(str(ipaddress.ip_address(item)))
        except ValueError:
            if len(items) > 1:
                raise ValueError(f"'{item}' is not an IP address.") from None
            problems = host_problems(item.lower())
            if problems:
                raise ValueError(" ".join(problems)) from None
            return [], item.lower().rstrip(".")
    return addresses, None


# What a URL or a host name says depends on the string alone: the engine parses each once,
# not per probe (with the default public hosts; the results are shared, read only).
cached_parse_url = lru_cache(maxsize=4096)(parse_url)
cached_classify_host = lru_cache(maxsize=4096)(classify_host)
