"""What the integrations that log a whole history (LangChain's ``AlignChatMessageHistory``,
LlamaIndex's ``AlignChatMemory``) share with the official SDK's: ``identify_user`` for their user."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..client import AlignClient


class IdentifiesUser:
    """Mixin: ``identify_user`` for ``self.user_id`` through ``self.client``."""

    if TYPE_CHECKING:  # provided by the class that mixes this in (a pydantic model, for LlamaIndex)
        client: AlignClient
        user_id: str

    def identify_user(
        self,
        display_name: str | None = None,
        email: str | None = None,
        ip: str | None = None,
        country_code: str | None = None,
        create_time: datetime | None = None,
        custom_properties: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        """Send ``identify_user`` for this history's user.

        Args:
            display_name: shown on the dashboard, at most 64 characters.
            email: at most 256 characters.
            ip: an IPv4 address (``country_code`` overrides it).
            country_code: ISO 3166-1 alpha-2.
            create_time: when the user was created (naive: UTC).
            custom_properties: up to 10 ``{key: value}`` pairs, Align's key and value rules.

        Raises:
            ValidationError: a field breaks its Align rule (nothing is sent).

        Example:
            >>> history.identify_user(display_name="Ada", country_code="GB")
        """
        self.client.identify_user(
            self.user_id,
            display_name=display_name,
            email=email,
            ip=ip,
            country_code=country_code,
            create_time=create_time,
            custom_properties=custom_properties,
        )
