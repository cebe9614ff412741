"""What every part of a route is built from: the strict model base, S3 location templates, the placeholder check.

routes.py and the engines' route settings (engines/<engine>/route_settings.py) share these; loaded with the
routes file only (pydantic), never by the tracker."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from emr_dispatch.placeholders import placeholders_in, unknown_braces

S3Template = Annotated[str, Field(pattern=r"^s3://")]
ReleaseLabel = Annotated[str, Field(pattern=r"^emr-\d+\.\d+\.\d+(-latest)?$")]


class RouteModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_template(text: str, allowed: frozenset[str], where: str, hint: str) -> None:
    if unknown_braces(text):
        raise ValueError(f"{where}: unbalanced brace (write {{{{ or }}}} for a literal brace)")
    unknown = placeholders_in(text) - allowed
    if unknown:
        names = ", ".join("{" + name + "}" for name in sorted(unknown))
        raise ValueError(f"{where}: placeholder {names} not allowed here{'; ' + hint if hint else ''}")
