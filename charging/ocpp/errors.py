"""CALLERRORs with the error codes each OCPP version spells (1.6 has 'FormationViolation' and
'OccurenceConstraintViolation'; 2.0.1 corrected both and added RpcFrameworkError and MessageTypeNotSupported)."""

from enum import StrEnum

from ocpp.exceptions import OCPPError


class ErrorKind(StrEnum):
    NOT_IMPLEMENTED = "NotImplemented"  # the action is not known
    NOT_SUPPORTED = "NotSupported"  # known, but this CSMS does not handle it
    FORMAT = "FormatViolation"
    OCCURRENCE = "OccurrenceConstraintViolation"
    PROPERTY = "PropertyConstraintViolation"
    TYPE = "TypeConstraintViolation"
    PROTOCOL = "ProtocolError"
    INTERNAL = "InternalError"
    GENERIC = "GenericError"
    RPC_FRAMEWORK = "RpcFrameworkError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"


_V16_SPELLING = {
    ErrorKind.FORMAT: "FormationViolation",
    ErrorKind.OCCURRENCE: "OccurenceConstraintViolation",
    # 1.6 knows neither; the closest codes it has.
    ErrorKind.RPC_FRAMEWORK: "FormationViolation",
    ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED: "ProtocolError",
}


def error_code(kind: ErrorKind, ocpp_version: str) -> str:
    return _V16_SPELLING.get(kind, kind.value) if ocpp_version == "1.6" else kind.value


class CallError(OCPPError):
    """An error to answer a charger's CALL with, carrying a version-neutral kind."""

    def __init__(self, kind: ErrorKind, description: str, details: dict | None = None):
        self.kind = kind
        self.code = kind.value
        super().__init__(description=description, details=details or {})

    def for_version(self, ocpp_version: str) -> "CallError":
        self.code = error_code(self.kind, ocpp_version)
        return self
