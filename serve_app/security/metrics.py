"""The guard's metrics in Ray's Prometheus export. Tenants are a label: they come from the key store,
which an operator fills, so the label's values stay few."""

from ray.serve.metrics import Counter


class SecurityMetrics:
    def __init__(self):
        self._failures = Counter("platform_auth_failures",
                                 "Refused API keys by reason (missing, ambiguous, invalid, forbidden).", ("reason",))
        self._refusals = Counter("platform_gate_refusals", "Requests the gate refused, by problem and route family.",
                                 ("problem", "family"))
        self._requests = Counter("platform_tenant_requests", "Admitted requests per tenant and route family.",
                                 ("tenant", "family"))
        self._rate_limited = Counter("platform_tenant_rate_limited", "Requests refused by a rate limit, per tenant "
                                     "and route family.", ("tenant", "family"))
        self._tokens = Counter("platform_tenant_llm_tokens", "LLM prompt + completion tokens per tenant (billing).",
                               ("tenant",))

    def auth_failure(self, reason: str) -> None:
        self._failures.inc(tags={"reason": reason})

    def refusal(self, problem: str, family: str) -> None:
        self._refusals.inc(tags={"problem": problem, "family": family})

    def request(self, tenant: str, family: str) -> None:
        self._requests.inc(tags={"tenant": tenant, "family": family})

    def rate_limited(self, tenant: str, family: str) -> None:
        self._rate_limited.inc(tags={"tenant": tenant, "family": family})

    def tokens(self, tenant: str, count: int) -> None:
        self._tokens.inc(count, tags={"tenant": tenant})
