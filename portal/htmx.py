"""One helper decides whether a request wants a fragment or the whole page."""


def wants_fragment(request) -> bool:
    return bool(getattr(request, "htmx", False)) and not request.htmx.boosted


def page_or_fragment(request, template: str, fragment: str) -> str:
    return f"{template}#{fragment}" if wants_fragment(request) else template
