"""The probe board: counts, and what needs attention first."""


def test_the_probe_board_counts_and_lists_what_needs_attention(client_for, ops, many_endpoints):
    many_endpoints(9)
    html = client_for(ops).get("/probes/").content.decode()
    assert html.count("status-down") >= 3
    assert "tcp_timeout" in html and "security group" in html  # the cause and its fix
    assert "Probe all now" in html


def test_the_board_shows_down_endpoints_first_even_past_its_limit(
    client_for, ops, many_endpoints, monkeypatch
):
    from endpoints.probes import views as probes

    monkeypatch.setattr(probes, "ATTENTION_LIMIT", 3)
    many_endpoints(9)  # 3 down, 3 degraded
    html = client_for(ops).get("/probes/").content.decode()
    start = html.index("Needs attention")
    needs = html[start : html.index("</table>", start)]
    assert needs.count("status-down") == 3 and "status-degraded" not in needs
