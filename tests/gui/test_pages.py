"""The GUI over the real Admin API and store, in-process over HTTP semantics (no browser): pages, forms,
errors next to their fields, and that nothing the API refuses is stored."""

from __future__ import annotations

import html
import time
import uuid
from urllib.parse import urlencode

import httpx

from oidcgate.cluster.protocol import DataPlaneStatus
from oidcgate.controlplane.gui.pages.certificates import shown
from oidcgate.controlplane.store import Store
from tests.gui.conftest import FORM, Gui
from tests.support.pki import CA

ISSUER = "http://127.0.0.1:9000/oauth2/default"


async def create_service(gui: Gui, name: str = "httpbin") -> str:
    response = await gui.post_form("/services/new", {"name": name, "protocol": "http", "host": "127.0.0.1",
                                                     "port": "9090", "enabled": "true"})
    assert response.status_code == 303, response.text
    return response.headers["location"].split("/")[2].split("?")[0]


async def test_every_page_renders_with_the_security_headers(gui: Gui) -> None:
    service_id = await create_service(gui)
    for path in ("/", "/services", f"/services/{service_id}", "/services/new", f"/services/{service_id}/edit",
                 "/routes", "/routes/new", "/consumers", "/consumers/new", "/consumer_groups", "/consumer_groups/new",
                 "/plugins", "/plugins/new", "/plugins/new/openid-connect", "/runtime", "/runtime/nodes",
                 "/runtime/configure", "/certificates", "/analytics"):
        response = await gui.http.get(path)
        assert response.status_code == 200, (path, response.text)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "<script>" not in response.text and " style=" not in response.text, path  # CSP-clean markup
    static = await gui.http.get("/static/gui.css")
    assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"


async def test_service_hub_create_search_edit_and_delete(gui: Gui) -> None:
    service_id = await create_service(gui, "orders")
    await create_service(gui, "billing")
    listed = await gui.http.get("/services", params={"q": "ORD"})
    assert "orders" in listed.text and "billing" not in listed.text
    detail = await gui.http.get(f"/services/{service_id}")
    assert "http://127.0.0.1:9090" in detail.text and "No routes yet" in detail.text

    edited = await gui.post_form(f"/services/{service_id}/edit",
                                 {"name": "orders", "protocol": "https", "host": "orders.internal", "port": "8443",
                                  "path": "/v1", "retries": "2", "tags": "team-a\nprod", "enabled": ""})
    assert edited.status_code == 303
    stored = (await gui.admin.get(f"/services/{service_id}")).json()
    assert (stored["protocol"], stored["host"], stored["port"], stored["path"], stored["retries"]) == (
        "https", "orders.internal", 8443, "/v1", 2)
    assert stored["tags"] == ["team-a", "prod"] and stored["enabled"] is False  # unchecked box: disabled

    deleted = await gui.post_form(f"/services/{service_id}/delete", {}, form_page=f"/services/{service_id}")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/services?done=deleted"
    assert (await gui.admin.get(f"/services/{service_id}")).status_code == 404


async def test_refused_service_form_shows_errors_next_to_fields_and_keeps_input(gui: Gui) -> None:
    await create_service(gui, "taken")
    response = await gui.post_form("/services/new", {"name": "bad name!", "host": "", "port": "99999",
                                                     "connect_timeout": "soon"})
    assert response.status_code == 400
    page = response.text
    for field in ("f-name-error", "f-host-error", "f-port-error", "f-connect_timeout-error"):
        assert f'id="{field}"' in page, field
    assert 'value="bad name!"' in page and 'value="soon"' in page  # what was typed stays
    clash = await gui.post_form("/services/new", {"name": "taken", "host": "example.test"})
    assert clash.status_code == 400 and 'id="f-name-error"' in clash.text and "UNIQUE violation" in clash.text
    assert await gui.count("/services") == 1


async def test_routes_belong_to_services_and_deleting_a_used_service_is_refused(gui: Gui) -> None:
    service_id = await create_service(gui)
    form_page = f"/routes/new?service={service_id}"
    page = await gui.http.get(form_page)
    assert f'<option value="{service_id}" selected>' in page.text
    created = await gui.post_form("/routes/new", {"service": service_id, "name": "oidcroute",
                                                  "paths": "/oidcroute", "protocols": "http"},
                                  form_page=form_page)
    assert created.status_code == 303 and created.headers["location"] == f"/services/{service_id}?done=created"
    routes = (await gui.admin.get(f"/services/{service_id}/routes")).json()["data"]
    assert [(r["name"], r["paths"], r["protocols"]) for r in routes] == [("oidcroute", ["/oidcroute"], ["http"])]
    assert "/oidcroute" in (await gui.http.get(f"/services/{service_id}")).text

    nothing = await gui.post_form("/routes/new", {"service": service_id, "name": "empty", "protocols": "http"},
                                  form_page="/routes/new")
    assert nothing.status_code == 400 and 'id="f-paths-error"' in nothing.text  # "must set one of ..."

    refused = await gui.post_form(f"/services/{service_id}/delete", {}, form_page=f"/services/{service_id}")
    assert refused.status_code == 400 and "Not deleted" in refused.text and "routes" in refused.text
    assert (await gui.admin.get(f"/services/{service_id}")).status_code == 200


async def test_openid_connect_form_lists_kong_fields_and_masks_secrets(gui: Gui) -> None:
    catalogue = await gui.http.get("/plugins/new")
    assert 'href="/plugins/new/openid-connect"' in catalogue.text
    page = (await gui.http.get("/plugins/new/openid-connect")).text
    for label in ("Issuer", "Client ID", "Client Secret", "Scopes", "Upstream Headers Claims",
                  "Upstream Headers Names", "Auth Methods", "Hide Credentials"):
        assert f">{label}<" in page or f"> {label}</label>" in page, label
    assert 'name="config.client_secret" autocomplete="new-password"' in page
    assert 'type="password"' in page
    assert ">openid</textarea>" in page  # the default scopes


def field_error(page: str, dom_id: str) -> str:
    assert f'id="{dom_id}-error"' in page, f"no error shown next to {dom_id}"
    return html.unescape(page.split(f'id="{dom_id}-error">')[1].split("<")[0])


async def test_invalid_plugin_form_shows_schema_errors_and_stores_nothing(gui: Gui) -> None:
    service_id = await create_service(gui)
    form_page = f"/plugins/new/openid-connect?service={service_id}"
    mismatched = [
        ("config.client_id", "demo"), ("config.client_secret", "s3cr3t-value"),
        ("config.upstream_headers_claims", "iss\nsub"), ("config.upstream_headers_names", "Issuer_Header"),
        ("config.auth_methods", "client_credentials"), ("enabled", "true"), ("protocols", "http"),
    ]
    missing_issuer = await gui.post_form(form_page, [("config.issuer", ""), *mismatched])
    assert missing_issuer.status_code == 400
    assert field_error(missing_issuer.text, "f-config-issuer") == "required field missing"
    # every error at once: the arrays that do not pair up are reported in the same round
    assert "has 1 entries but upstream_headers_claims has 2" in field_error(
        missing_issuer.text, "f-config-upstream_headers_names")
    assert "s3cr3t-value" not in missing_issuer.text  # a refused form never echoes a secret
    assert "iss\nsub</textarea>" in missing_issuer.text  # the rest of the input is kept

    # with the issuer fixed, the arrays are still refused
    response = await gui.post_form(form_page, [("config.issuer", ISSUER), *mismatched])
    assert response.status_code == 400
    names_error = field_error(response.text, "f-config-upstream_headers_names")
    assert "has 1 entries but upstream_headers_claims has 2" in names_error
    assert f'value="{ISSUER}"' in response.text
    assert await gui.count("/plugins") == 0


async def test_plugin_lifecycle_create_edit_keeps_secret_toggle_delete(gui: Gui) -> None:
    service_id = await create_service(gui)
    form_page = f"/plugins/new/openid-connect?service={service_id}"
    created = await gui.post_form(form_page, [
        ("config.issuer", ISSUER), ("config.client_id", "gateway"), ("config.client_secret", "first-secret"),
        ("config.scopes", ""), ("config.auth_methods", "client_credentials"), ("config.auth_methods", "bearer"),
        ("config.upstream_headers_claims", "iss"), ("config.upstream_headers_names", "Issuer_Header"),
        ("config.client_credentials_param_type", "header"), ("config.bearer_token_param_type", "header"),
        ("config.cache_ttl", "600"), ("enabled", "true"), ("protocols", "http"), ("protocols", "https"),
    ])
    assert created.status_code == 303, created.text
    assert created.headers["location"] == f"/services/{service_id}?done=created"
    [plugin] = (await gui.admin.get("/plugins")).json()["data"]
    config = plugin["config"]
    assert plugin["service"] == {"id": service_id} and plugin["enabled"] is True
    assert (config["issuer"], config["client_id"], config["client_secret"], config["scopes"]) == (
        ISSUER, ["gateway"], ["first-secret"], [])
    assert config["auth_methods"] == ["client_credentials", "bearer"] and config["cache_ttl"] == 600
    assert config["upstream_headers_names"] == ["Issuer_Header"]

    edit_page = f"/plugins/{plugin['id']}/edit?return_to=/services/{service_id}"
    shown = (await gui.http.get(edit_page)).text
    assert "first-secret" not in shown and "•••••••• (stored)" in shown
    assert f'value="{ISSUER}"' in shown
    edited = await gui.post_form(edit_page, [
        ("config.issuer", ISSUER), ("config.client_id", "gateway"), ("config.client_secret", ""),
        ("config.scopes", ""), ("config.auth_methods", "client_credentials"), ("config.cache_ttl", "60"), ("enabled", "true"),
        ("protocols", "http"), ("service", service_id),
    ])
    assert edited.status_code == 303 and edited.headers["location"] == f"/services/{service_id}?done=saved"
    config = (await gui.admin.get(f"/plugins/{plugin['id']}")).json()["config"]
    assert config["client_secret"] == ["first-secret"] and config["cache_ttl"] == 60
    assert config["scopes"] == []  # an empty list stays empty, it does not snap back to the default

    service_page = f"/services/{service_id}"
    toggled = await gui.post_form(f"/plugins/{plugin['id']}/toggle",
                                  {"enabled": "false", "return_to": service_page}, form_page=service_page)
    assert toggled.headers["location"] == f"{service_page}?done=disabled"
    assert (await gui.admin.get(f"/plugins/{plugin['id']}")).json()["enabled"] is False
    assert "Disabled" in (await gui.http.get(service_page)).text

    deleted = await gui.post_form(f"/plugins/{plugin['id']}/delete", {"return_to": service_page},
                                  form_page=service_page)
    assert deleted.headers["location"] == f"{service_page}?done=deleted"
    assert await gui.count("/plugins") == 0


async def test_global_and_consumer_scoped_plugins(gui: Gui) -> None:
    consumer = await gui.post_form("/consumers/new", {"username": "alice", "custom_id": "a-1"})
    assert consumer.status_code == 303
    consumer_id = consumer.headers["location"].split("/")[2].split("?")[0]
    scoped = await gui.post_form("/plugins/new/correlation-id", {"consumer": consumer_id, "enabled": "true",
                                                                 "protocols": "http"})
    assert scoped.status_code == 303, scoped.text
    global_one = await gui.post_form("/plugins/new/correlation-id", {"enabled": "true", "protocols": "http",
                                                                     "instance_name": "everywhere"})
    assert global_one.status_code == 303, global_one.text
    listing = (await gui.http.get("/plugins")).text
    assert "Global" in listing and f'href="/consumers/{consumer_id}">alice</a>' in listing
    assert "correlation-id" in (await gui.http.get(f"/consumers/{consumer_id}")).text


async def test_consumers_list_create_delete(gui: Gui) -> None:
    created = await gui.post_form("/consumers/new", {"username": "bob", "tags": "partner"})
    consumer_id = created.headers["location"].split("/")[2].split("?")[0]
    assert "bob" in (await gui.http.get("/consumers")).text
    empty = await gui.post_form("/consumers/new", {"username": "", "custom_id": ""})
    assert empty.status_code == 400 and "at least one of these fields" in empty.text
    deleted = await gui.post_form(f"/consumers/{consumer_id}/delete", {}, form_page="/consumers")
    assert deleted.headers["location"] == "/consumers?done=deleted"
    assert await gui.count("/consumers") == 0


def created_id(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["location"].split("/")[2].split("?")[0]


async def test_consumer_groups_list_create_members_plugins_and_delete(gui: Gui) -> None:
    alice = created_id(await gui.post_form("/consumers/new", {"username": "alice"}))
    bob = created_id(await gui.post_form("/consumers/new", {"custom_id": "bob-1"}))
    gold = created_id(await gui.post_form("/consumer_groups/new", {"name": "gold", "tags": "tier"}))
    assert 'href="/consumer_groups/' in (await gui.http.get("/consumer_groups")).text
    taken = await gui.post_form("/consumer_groups/new", {"name": "gold"})
    assert taken.status_code == 400 and 'id="f-name-error"' in taken.text
    page = f"/consumer_groups/{gold}"

    added = await gui.post_form(f"{page}/members", {"consumer": alice}, form_page=page)
    assert added.status_code == 303 and added.headers["location"] == f"{page}?done=added"
    assert [c["username"] for c in (await gui.admin.get(f"{page}/consumers")).json()["data"]] == ["alice"]
    detail = (await gui.http.get(page)).text
    assert f'href="/consumers/{alice}"' in detail and "1 consumer" in detail
    assert f'<option value="{bob}">bob-1</option>' in detail and f'<option value="{alice}"' not in detail
    again = await gui.post_form(f"{page}/members", {"consumer": alice}, form_page=page)
    assert again.status_code == 409 and "Not added:" in again.text
    nobody = await gui.post_form(f"{page}/members", {"consumer": ""}, form_page=page)
    assert nobody.status_code == 400 and "Choose a consumer to add." in nobody.text

    plugin = await gui.post_form(f"/plugins/new/correlation-id?consumer_group={gold}",
                                 {"enabled": "true", "protocols": "http"}, form_page="/plugins/new/correlation-id")
    assert plugin.status_code == 303 and plugin.headers["location"] == f"{page}?done=created"
    stored = (await gui.admin.get(f"{page}/plugins")).json()["data"]
    assert [(p["name"], p["consumer_group"]["id"]) for p in stored] == [("correlation-id", gold)]
    assert "correlation-id" in (await gui.http.get(page)).text
    listing = (await gui.http.get("/plugins")).text
    assert f'Consumer Group: <a href="/consumer_groups/{gold}">gold</a>' in listing

    removed = await gui.post_form(f"{page}/members/{alice}/delete", {}, form_page=page)
    assert removed.headers["location"] == f"{page}?done=removed"
    assert (await gui.admin.get(f"{page}/consumers")).json()["data"] == []
    deleted = await gui.post_form(f"{page}/delete", {}, form_page=page)
    assert deleted.headers["location"] == "/consumer_groups?done=deleted"
    assert await gui.count("/consumer_groups") == 0 and await gui.count("/plugins") == 0  # its plugins too (Kong)


async def test_a_consumer_shows_its_groups_and_acl_credentials(gui: Gui) -> None:
    alice = created_id(await gui.post_form("/consumers/new", {"username": "alice"}))
    gold = created_id(await gui.post_form("/consumer_groups/new", {"name": "gold"}))
    await gui.admin.post(f"/consumer_groups/{gold}/consumers", json={"consumer": alice})
    page = f"/consumers/{alice}"
    added = await gui.post_form(f"{page}/acls", {"group": "staff"}, form_page=page)
    assert added.status_code == 303 and added.headers["location"] == f"{page}?done=added"
    detail = (await gui.http.get(page)).text
    assert f'<a href="/consumer_groups/{gold}">gold</a>' in detail and "<strong>staff</strong>" in detail
    refused = await gui.post_form(f"{page}/acls", {"group": "a,b"}, form_page=page)
    assert refused.status_code == 400 and "Not added:" in refused.text and "group" in refused.text
    (acl,) = (await gui.admin.get(f"{page}/acls")).json()["data"]
    assert acl["group"] == "staff"
    removed = await gui.post_form(f"{page}/acls/{acl['id']}/delete", {}, form_page=page)
    assert removed.headers["location"] == f"{page}?done=removed"
    assert (await gui.admin.get(f"{page}/acls")).json()["data"] == []
    assert "No ACL credentials yet." in (await gui.http.get(page)).text


async def test_the_new_forms_need_the_csrf_token(gui: Gui) -> None:
    alice = created_id(await gui.post_form("/consumers/new", {"username": "alice"}))
    gold = created_id(await gui.post_form("/consumer_groups/new", {"name": "gold"}))
    for path, form in ((f"/consumer_groups/{gold}/members", {"consumer": alice}),
                       (f"/consumers/{alice}/acls", {"group": "staff"}),
                       (f"/consumer_groups/{gold}/delete", {}), ("/consumer_groups/new", {"name": "silver"})):
        assert (await gui.http.post(path, content=urlencode(form), headers=FORM)).status_code == 403  # no token
    assert (await gui.admin.get(f"/consumer_groups/{gold}/consumers")).json()["data"] == []
    assert (await gui.admin.get(f"/consumers/{alice}/acls")).json()["data"] == []
    assert await gui.count("/consumer_groups") == 1


async def test_user_text_is_escaped(gui: Gui) -> None:
    payload = "<script>alert(1)</script>"
    service = await gui.post_form("/services/new", {"name": "xss", "host": "example.test", "tags": payload})
    assert service.status_code == 303, service.text
    consumer = await gui.post_form("/consumers/new", {"custom_id": payload, "username": '"><img src=x>'})
    assert consumer.status_code == 303, consumer.text
    group = await gui.post_form("/consumer_groups/new", {"name": "g", "tags": payload})
    consumer_page = consumer.headers["location"].split("?")[0]
    await gui.post_form(f"{consumer_page}/acls", {"group": payload}, form_page=consumer_page)
    for path in ("/services", "/consumers", service.headers["location"].split("?")[0], "/consumer_groups",
                 group.headers["location"].split("?")[0], consumer_page):
        page = (await gui.http.get(path)).text
        assert payload not in page and "<img src=x>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (await gui.http.get("/services")).text


async def test_csrf_token_is_required_and_bound_to_the_session(gui: Gui) -> None:
    form = {"name": "sneaky", "host": "example.test"}
    assert (await gui.http.post("/services/new", data=form)).status_code == 403
    assert (await gui.http.post("/services/new", data={**form, "csrf_token": "forged"})).status_code == 403
    other = Gui(gui.app, gui.app, None)  # another browser: its own session cookie
    try:
        foreign = await other.token_for("/services/new")
    finally:
        await other.http.aclose()
    assert (await gui.http.post("/services/new", data={**form, "csrf_token": foreign})).status_code == 403
    json_post = await gui.http.post("/services/new", json={**form, "csrf_token": await gui.token_for("/services/new")})
    assert json_post.status_code == 415
    assert await gui.count("/services") == 0
    assert (await gui.post_form("/services/new", form)).status_code == 303


async def test_loopback_only_without_token(gui: Gui) -> None:
    rebound = await gui.http.get("/", headers={"host": "evil.example:8002"})
    assert rebound.status_code == 421
    assert (await gui.http.get("/", headers={"host": "localhost:8002"})).status_code == 200
    assert (await gui.http.get("/", headers={"host": "[::1]:8002"})).status_code == 200


async def test_login_with_the_admin_token(guarded_gui: Gui) -> None:
    gui = guarded_gui
    first = await gui.http.get("/services?q=a")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/services%3Fq%3Da"
    assert (await gui.http.get("/static/gui.css")).status_code == 200
    login_page = await gui.http.get("/login?next=/services")
    cookie = login_page.headers["set-cookie"]
    assert login_page.status_code == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    wrong = await gui.post_form("/login?next=/services", {"token": "guess"})
    assert wrong.status_code == 401 and "not the admin token" in wrong.text
    assert (await gui.http.get("/services")).status_code == 303
    assert (await gui.http.post("/services/new", data={"name": "x", "host": "example.test"})).status_code == 403

    right = await gui.post_form("/login?next=/services", {"token": "gui-test-admin-token"})
    assert right.status_code == 303 and right.headers["location"] == "/services"
    assert "gui-test-admin-token" not in right.headers["set-cookie"]
    assert (await gui.http.get("/services")).status_code == 200
    assert (await gui.post_form("/services/new", {"name": "after-login", "host": "example.test"})).status_code == 303
    assert await gui.count("/services") == 1

    out = await gui.post_form("/logout", {}, form_page="/")
    assert out.headers["location"] == "/login?done=signed-out"
    assert (await gui.http.get("/services")).status_code == 303


async def test_open_redirects_are_refused_after_login(guarded_gui: Gui) -> None:
    response = await guarded_gui.post_form("/login?next=//evil.example/x", {"token": "gui-test-admin-token"},
                                           form_page="/login")
    assert response.headers["location"] == "/"


async def test_runtime_manager_lists_data_planes(gui: Gui, store: Store) -> None:
    empty = await gui.http.get("/runtime")
    assert "No data plane has connected yet" in empty.text and "Off" in empty.text
    node_id = str(uuid.uuid4())
    store.record_data_plane(DataPlaneStatus(id=node_id, ip="127.0.0.7", hostname="dp-<one>", version="0.1.0",
                                            config_hash="ab" * 16, last_seen=int(time.time()) - 130,
                                            sync_status="normal"))
    rows = (await gui.http.get("/runtime/nodes")).text
    assert "dp-&lt;one&gt;" in rows and "127.0.0.7" in rows and "2 min ago" in rows and "abababababab" in rows
    assert "<html" not in rows  # a fragment for gui.js to swap in
    page = (await gui.http.get("/runtime")).text
    assert 'data-refresh="/runtime/nodes"' in page and "badge ok" in page
    assert "1 data plane known, 1 in sync" in (await gui.http.get("/")).text
    configure = (await gui.http.get("/runtime/configure")).text
    assert "hybrid mode is off" in configure


async def test_overview_counts_and_health(gui: Gui) -> None:
    await create_service(gui)
    page = (await gui.http.get("/")).text
    assert '<span class="n">1</span><span class="l">Gateway Services</span>' in page
    assert '<span class="n">0</span><span class="l">Routes</span>' in page
    assert "Healthy" in page and "reachable" in page


async def test_unknown_entities_are_404_pages(gui: Gui) -> None:
    for path in (f"/services/{uuid.uuid4()}", "/plugins/new/no-such-plugin", f"/routes/{uuid.uuid4()}/edit",
                 f"/certificates/{uuid.uuid4()}", f"/ca_certificates/{uuid.uuid4()}"):
        response = await gui.http.get(path)
        assert response.status_code == 404 and "Not found" in response.text, path


async def test_certificates_show_what_the_certificate_says_and_never_a_key(gui: Gui) -> None:
    ca = CA("GUI test CA")
    ecdsa, rsa = ca.issue("api.test", "10.0.0.1", days=10), ca.issue("api.test", kind="rsa", days=90)
    created = await gui.admin.post("/certificates", json={
        "cert": ecdsa.cert, "key": ecdsa.key, "cert_alt": rsa.cert, "key_alt": rsa.key,
        "snis": ["api.test", "*.api.test"], "tags": ["edge"]})
    assert created.status_code == 201, created.text
    certificate = created.json()
    stored_ca = (await gui.admin.post("/ca_certificates", json={"cert": ca.cert})).json()
    service = await gui.admin.post("/services", json={"name": "billing", "url": "https://billing.test",
                                                      "tls_verify": True, "ca_certificates": [stored_ca["id"]]})
    assert service.status_code == 201, service.text

    listing = (await gui.http.get("/certificates")).text
    row = listing[listing.index(f'href="/certificates/{certificate["id"]}"'):]
    row = row[:row.index("</tr>")]
    assert "<strong>api.test</strong>" in row and "*.api.test, api.test" in row and "api.test, 10.0.0.1" in row
    assert "ECDSA + RSA" in row and "10 d left" in row and 'class="tag">edge' in row
    assert f'href="/ca_certificates/{stored_ca["id"]}"><strong>GUI test CA</strong>' in listing

    detail = (await gui.http.get(f"/certificates/{certificate['id']}")).text
    assert "CN=api.test" in detail and "CN=GUI test CA" in detail and "Alternative certificate" in detail
    assert "RSA" in detail and "ECDSA" in detail and "*.api.test, api.test" in detail
    assert "No service uses this certificate." in detail
    ca_page = (await gui.http.get(f"/ca_certificates/{stored_ca['id']}")).text
    assert stored_ca["cert_digest"] in ca_page and 'href="/services/' in ca_page and "billing" in ca_page

    for page in (listing, detail, ca_page):
        assert "PRIVATE KEY" not in page
        for key in (ecdsa.key, rsa.key):
            assert all(line not in page for line in key.splitlines()[1:-1])

    refused = await gui.post_form(f"/ca_certificates/{stored_ca['id']}/delete", {},
                                  form_page=f"/ca_certificates/{stored_ca['id']}")
    assert refused.status_code == 400 and "Not deleted" in refused.text
    deleted = await gui.post_form(f"/certificates/{certificate['id']}/delete", {},
                                  form_page=f"/certificates/{certificate['id']}")
    assert deleted.headers["location"] == "/certificates?done=deleted"
    assert await gui.count("/snis") == 0


def test_expiry_states() -> None:
    issued = CA().issue("soon.test", days=10)
    now = time.time()
    assert [shown(issued.cert, at).expiry_state for at in (now, now - 30 * 86400, now + 11 * 86400)] == \
        ["soon", "ok", "expired"]
    assert shown(issued.cert, now).days_left == 10
