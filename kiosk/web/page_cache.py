"""Pages that are the same for every phone but for a few values of its own (a CSRF token), rendered once.

The landing page is what every phone that joins the Wi-Fi loads, often several times; rendering its template
costs most of its answer. It is rendered once per key (language, access state…) with placeholders where the
per-phone values go, and each answer is that text with the values put in.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Mapping

from markupsafe import escape

MAX_PAGES = 64  # keys come from small fixed sets (languages × states); a bound all the same


class PageCache:
    def __init__(self) -> None:
        self._pages: dict[Hashable, str] = {}
        self._marker = secrets.token_hex(12)  # no template text can hold it by chance

    def render(self, key: Hashable, per_phone: Mapping[str, str],
               render: Callable[[Mapping[str, str]], str]) -> str:
        """The page for ``key``, made by ``render(placeholders)`` the first time, with ``per_phone``'s values
        (escaped for HTML) where ``render`` put the placeholders."""
        page = self._pages.get(key)
        if page is None:
            page = render({name: self._placeholder(name) for name in per_phone})
            if len(self._pages) < MAX_PAGES:
                self._pages[key] = page  # two threads rendering the same page at once both store the same text
        return self._fill(page, per_phone)

    def cached(self, key: Hashable, per_phone: Mapping[str, str]) -> str | None:
        """The page for ``key`` with ``per_phone``'s values put in, or None if it was never rendered."""
        page = self._pages.get(key)
        return None if page is None else self._fill(page, per_phone)

    def _fill(self, page: str, per_phone: Mapping[str, str]) -> str:
        for name, value in per_phone.items():
            page = page.replace(self._placeholder(name), str(escape(value)))
        return page

    def _placeholder(self, name: str) -> str:
        return f"{name}-{self._marker}"
