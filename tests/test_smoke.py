def test_login_and_dashboard(client, auth):
    assert client.get("/").status_code == 302
    auth.login("viewer")
    response = client.get("/")
    assert response.status_code == 200
    assert "Dashboard" in response.get_data(as_text=True) or "Tableau de bord" in response.get_data(as_text=True)
