"""A graph's request body, declared field by field in serve_config.yaml and checked before any node
runs: a missing, unknown or out-of-range field is a 422 naming it, not a failure deep in the graph."""

from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WrapValidator,
                      create_model, model_validator)

from serve_app.common.generation import valid_unicode


def _whole_number(value: Any) -> Any:
    # "42" is an id a client may well send; 4.2, 1.0 or true is not.
    if isinstance(value, bool | float):
        raise ValueError("must be an integer")
    return value


def _raw_bytes(value: Any, validate: Any) -> Any:
    # A KServe V2 BYTES tensor hands raw bytes where a JSON body has text (an image: base64 text).
    return value if isinstance(value, bytes) else validate(value)


# Each type and the validators around it. A string's text must be valid Unicode (it may reach a model, a
# log line or a Redis key).
TYPES: dict[str, tuple] = {
    "string": (str, AfterValidator(valid_unicode), WrapValidator(_raw_bytes), PlainSerializer(lambda value: value)),
    "integer": (int, BeforeValidator(_whole_number)), "number": (float,), "boolean": (bool,), "array": (list,),
    "object": (dict,),
}


class InputField(BaseModel):
    """One field of the body: its type, bounds, and a default that makes it optional."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "integer", "number", "boolean", "array", "object"]
    default: Any = None
    ge: float | None = None
    le: float | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    # An array's elements, each checked as a field of its own (max_length bounds each review's text, say).
    items: "InputField | None" = None
    # The only values taken (a language code, say).
    enum: list[Any] | None = Field(default=None, min_length=1)
    description: str | None = None

    @model_validator(mode="after")
    def _bounds_fit_the_type(self) -> "InputField":
        if self.type not in ("integer", "number") and (self.ge, self.le) != (None, None):
            raise ValueError(f"ge/le bound numbers, not a {self.type}")
        if self.type not in ("string", "array", "object") and (self.min_length, self.max_length) != (None, None):
            raise ValueError(f"min_length/max_length bound strings, arrays and objects, not a {self.type}")
        if self.items is not None and self.type != "array":
            raise ValueError(f"items declare an array's elements, not a {self.type}'s")
        if self.items is not None and "default" in self.items.model_fields_set:
            raise ValueError("items take no default: an array's elements are all sent")
        return self

    def checked_type(self) -> Any:
        """The type with its bounds and validators. The bounds come first so that they check the value itself
        (a string's characters, not "items after validation"); raw bytes still skip a string's checks."""
        bounds = self.model_dump(include={"ge", "le", "min_length", "max_length"}, exclude_none=True)
        base, *validators = TYPES[self.type]
        if self.items is not None:
            base = list[self.items.checked_type()]
        if self.enum is not None:
            base = Literal[tuple(self.enum)]
        return Annotated[base, Field(**bounds), *validators]

    def annotation(self) -> tuple[Any, Any]:
        required = "default" not in self.model_fields_set
        return self.checked_type(), Field(... if required else self.default, description=self.description)


def input_model(graph: str, fields: dict[str, InputField]) -> type[BaseModel]:
    """The pydantic model of a graph's body; fields it does not declare are refused."""
    return create_model(f"{graph}_input", __config__=ConfigDict(extra="forbid"),
                        **{name: field.annotation() for name, field in fields.items()})
