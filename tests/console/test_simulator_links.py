"""The simulator shows the url buttons of the bot's last message, with their addresses."""
from __future__ import annotations

from tests.console.conftest import Console


def test_the_simulator_shows_a_topics_link_buttons(logged_in: Console) -> None:
    logged_in.get("/console/simulator")
    logged_in.post("/console/simulator", text="Handige links")
    assert 'value="LINKS:fraud"' in logged_in.get("/console/simulator").get_data(as_text=True)
    logged_in.post("/console/simulator", text="Fraude melden", payload="LINKS:fraud")
    page = logged_in.get("/console/simulator").get_data(as_text=True)
    assert 'href="https://www.fraudehelpdesk.nl"' in page and ">Fraudehelpdesk</a>" in page
