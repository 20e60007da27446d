"""The API key for `tritonclient.http`, which takes headers per call or through a plugin."""

from tritonclient._plugin import InferenceServerClientPlugin


class BearerAuth(InferenceServerClientPlugin):
    """tritonclient sends the API key through a plugin: every call's headers get it."""

    def __init__(self, key: str):
        self.key = key

    def __call__(self, request) -> None:
        request.headers["Authorization"] = f"Bearer {self.key}"
