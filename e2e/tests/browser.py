"""A real browser for the end-to-end suite: Debian's Chromium driven by
playwright-core through e2e/browser/driver.mjs (one JSON command per line).

What the pages must contain (paths, ids, field names, texts) is the contract
of docs/browser-sign-in.md, kept here in one place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

from tollgate import E2E_DIR, REPO_ROOT

DRIVER_DIR = E2E_DIR / "browser"
CHROMIUM = os.environ.get("TOLLGATE_CHROMIUM", "/usr/bin/chromium")
COMMAND_TIMEOUT = 60.0

# -- the contract (docs/browser-sign-in.md) ------------------------------------

AUTHORIZE = "/auth/v3/oauth/authorize"
SIGN_IN_PAGE = "/ui/auth/sign-in"
CHANGE_PASSWORD_PAGE = "/ui/auth/change-password"
SIGNED_IN_PAGE = "/ui/auth/signed-in"
SIGNED_OUT_PAGE = "/ui/auth/signed-out"
SIGN_OUT = "/auth/v3/sign-out"
SESSION_COOKIE = "tollgate_session"
CSRF_COOKIE = "tollgate_csrf"

SIGN_IN = {
    "form": "#sign-in-form",
    "username": "#username",
    "password": "#password",
    "tenant": "#tenant",
    "submit": "#sign-in",
    "error": "#error",
}
CHANGE = {
    "form": "#change-password-form",
    "old": "#old-password",
    "new": "#new-password",
    "confirm": "#confirm-password",
    "submit": "#change-password",
    "notice": "#notice",
    "error": "#error",
}

TEXTS = {
    "en": {
        "sign_in_title": "Sign in",
        "username": "User name",
        "password": "Password",
        "tenant": "Tenant",
        "submit": "Sign in",
        "bad_credentials": "The user name or password is incorrect.",
        "missing_fields": "Enter your user name and password.",
        "locked": "Too many failed sign-in attempts. Try again later.",
        "disabled": "This account is disabled. Contact your administrator.",
        "rate_limited": "Too many requests. Try again later.",
        "expired_notice": "Your password has expired. Choose a new one.",
        "changed_notice": "Your password has been changed.",
        "mismatch": "The new passwords do not match.",
        "refused": "Unable to update password",
        "signed_out": "You are signed out.",
        "signed_out_title": "Signed out",
        "bad_request_title": "Sign-in request not valid",
        "csrf": "This form has expired. Reload the page and try again.",
        "current_password": "Current password",
        "new_password": "New password",
        "confirm_password": "Confirm the new password",
        "change_submit": "Change password",
    },
    "fr": {
        "sign_in_title": "Connexion",
        "username": "Nom d'utilisateur",
        "password": "Mot de passe",
        "tenant": "Locataire",
        "submit": "Se connecter",
        "bad_credentials": "Le nom d'utilisateur ou le mot de passe est incorrect.",
        "locked": "Trop de tentatives de connexion infructueuses. Réessayez plus tard.",
        "expired_notice": "Votre mot de passe a expiré. Choisissez-en un nouveau.",
        "changed_notice": "Votre mot de passe a été modifié.",
        "signed_out": "Vous êtes déconnecté.",
        "signed_out_title": "Déconnecté",
        "current_password": "Mot de passe actuel",
        "new_password": "Nouveau mot de passe",
        "confirm_password": "Confirmez le nouveau mot de passe",
        "change_submit": "Changer le mot de passe",
    },
}


def unavailable_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or scripts/test.sh)"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (DRIVER_DIR / "node_modules" / "playwright-core").is_dir():
        return f"the browser driver's packages are not installed (cd {DRIVER_DIR} && npm ci)"
    return None


def required() -> bool:
    return os.environ.get("TOLLGATE_REQUIRE_BROWSER") == "1"


def screenshot_dir(default: Path) -> Path:
    raw = os.environ.get("TOLLGATE_SCREENSHOT_DIR")
    return Path(raw) if raw else default


def update_docs_screenshots() -> bool:
    return os.environ.get("TOLLGATE_UPDATE_SCREENSHOTS") == "1"


DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


class BrowserError(AssertionError):
    pass


class Browser:
    """One Chromium for the session; each `page()` is a fresh context."""

    def __init__(self, log_path: Path):
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            ["node", str(DRIVER_DIR / "driver.mjs")],
            cwd=DRIVER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self._next = 0
        self._lock = threading.Lock()
        self._names = 0
        hello = self._read(COMMAND_TIMEOUT)
        if not hello.get("ok"):
            raise BrowserError(f"the browser driver did not start: {hello}")
        self.version = hello["result"]["browser"]

    def _read(self, timeout: float) -> dict:
        result: list = []

        def read():
            result.append(self.proc.stdout.readline())

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if not result or not result[0]:
            raise BrowserError(f"the browser driver did not answer within {timeout}s (exit code {self.proc.poll()})")
        return json.loads(result[0])

    def call(self, cmd: str, **args):
        with self._lock:
            self._next += 1
            self.proc.stdin.write(json.dumps({"id": self._next, "cmd": cmd, "args": args}) + "\n")
            self.proc.stdin.flush()
            answer = self._read(COMMAND_TIMEOUT)
        if answer.get("id") != self._next:
            raise BrowserError(f"out of order answer from the browser driver: {answer}")
        if not answer["ok"]:
            raise BrowserError(f"browser command {cmd} {args.get('selector') or args.get('url') or ''} failed: {answer['error']}")
        return answer["result"]

    def page(self, redirect_uri: str | None = None, accept_language: str | None = None, locale: str | None = None) -> "Page":
        self._names += 1
        name = f"p{self._names}"
        self.call("open", name=name, redirectUri=redirect_uri, acceptLanguage=accept_language, locale=locale)
        return Page(self, name)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.close()
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            self._log.close()


class Page:
    """A browser context with one page; methods mirror what a user does."""

    def __init__(self, browser: Browser, name: str):
        self.browser = browser
        self.name = name
        self.last: dict = {}
        self._seen = 0

    def _call(self, cmd: str, **args):
        return self.browser.call(cmd, name=self.name, **args)

    def _nav(self, cmd: str, **args) -> dict:
        return self._remember(self._call(cmd, **args))

    def _remember(self, info: dict) -> dict:
        """`callbacks` of the answer: only the redirects to the relying party
        since the previous navigation command."""
        everything = info.get("callbacks", [])
        info["callbacks"] = everything[self._seen :]
        self._seen = len(everything)
        self.last = info
        return info

    # navigation -------------------------------------------------------------
    def goto(self, url: str) -> dict:
        return self._nav("goto", url=url)

    def info(self) -> dict:
        info = self._call("info")
        info["callbacks"] = info.get("callbacks", [])[self._seen :]
        return info

    def click(self, selector: str) -> dict:
        return self._nav("click", selector=selector)

    def submit(self, selector: str) -> dict:
        """Enter in `selector`: submits its form as a user would."""
        return self._nav("submit", selector=selector)

    def fill(self, selector: str, value: str) -> None:
        self._call("fill", selector=selector, value=value)

    def press(self, key: str, navigation: bool = False):
        if navigation:
            return self._nav("press", key=key, navigation=True)
        return self._call("press", key=key)

    def type(self, text: str) -> None:
        self._call("type", text=text)

    def focused(self) -> dict | None:
        return self._call("focused")

    def focus_indicator(self) -> bool:
        return self._call("focusIndicator")

    def elements(self, selector: str) -> list[dict]:
        return self._call("attributes", selector=selector)

    def element(self, selector: str) -> dict | None:
        found = self.elements(selector)
        return found[0] if found else None

    def text(self, selector: str) -> str | None:
        e = self.element(selector)
        return e["text"] if e else None

    def axe(self) -> list[dict]:
        return self._call("axe")

    def screenshot(self, path: Path) -> Path:
        self._call("screenshot", path=str(path))
        return path

    def cookies(self) -> list[dict]:
        return self._call("cookies")

    def cookie(self, name: str) -> dict | None:
        return next((c for c in self.cookies() if c["name"] == name), None)

    def fetch(self, url: str, method: str = "GET", form: dict | None = None, headers: dict | None = None) -> dict:
        return self._call("fetch", url=url, method=method, form=form, headers=headers)

    def close(self) -> None:
        self._call("close")

    # WebAuthn ------------------------------------------------------------------
    def add_authenticator(self) -> str:
        """A new virtual authenticator (CTAP2, user verification) on this page."""
        return self._call("authenticator")["authenticatorId"]

    def remove_authenticator(self) -> None:
        self._call("authenticator", remove=True)

    def authenticator_credentials(self) -> list[dict]:
        """The credentials the current virtual authenticator holds."""
        return self._call("authenticatorCredentials")

    # the sign-in page ---------------------------------------------------------
    def sign_in(self, username: str, password: str, tenant: str | None = None) -> dict:
        self.fill(SIGN_IN["username"], username)
        if tenant is not None:
            self.fill(SIGN_IN["tenant"], tenant)
        self.fill(SIGN_IN["password"], password)
        return self.click(SIGN_IN["submit"])

    def change_password(self, old: str | None, new: str, confirm: str | None = None) -> dict:
        if old is not None:
            self.fill(CHANGE["old"], old)
        self.fill(CHANGE["new"], new)
        self.fill(CHANGE["confirm"], new if confirm is None else confirm)
        return self.click(CHANGE["submit"])

    # callbacks --------------------------------------------------------------
    @property
    def callbacks(self) -> list[str]:
        return self.last.get("callbacks", [])
