"""Tests of the pain.001.001.03 payout file (billing/payment_file.py): the XML read back with xml.etree (namespace,
element order of the XSD, counts and sums), the three creditor account forms, what is refused, escaping, determinism
and the summary parser's own checks."""

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.payment_file import (
    NAMESPACE,
    BankgiroAccount,
    CreditTransfer,
    Debtor,
    IbanAccount,
    PaymentFileError,
    SwedishBankAccount,
    build_pain001,
    parse_pain001_summary,
)

D = Decimal
NS = {"p": NAMESPACE}
STOCKHOLM = ZoneInfo("Europe/Stockholm")
CREATED_AT = datetime(2025, 4, 24, 14, 5, 9, 123456, tzinfo=UTC)  # 16:05:09 in Stockholm (summer time)
EXECUTION_DATE = date(2025, 4, 25)
DEBTOR = Debtor(name="RE&GO AB", org_number="556677-8899", iban="SE35 5000 0000 0549 1000 0003", bic="essesess")

# The element sequences of the pain.001.001.03 XSD (GroupHeader32, PaymentInstructionInformation3,
# CreditTransferTransactionInformation10 and the types under them); a file's children must follow these orders.
XSD_SEQUENCES = {
    "GrpHdr": ["MsgId", "CreDtTm", "Authstn", "NbOfTxs", "CtrlSum", "InitgPty", "FwdgAgt"],
    "PmtInf": ["PmtInfId", "PmtMtd", "BtchBookg", "NbOfTxs", "CtrlSum", "PmtTpInf", "ReqdExctnDt", "PoolgAdjstmntDt",
               "Dbtr", "DbtrAcct", "DbtrAgt", "DbtrAgtAcct", "UltmtDbtr", "ChrgBr", "ChrgsAcct", "ChrgsAcctAgt",
               "CdtTrfTxInf"],
    "CdtTrfTxInf": ["PmtId", "PmtTpInf", "Amt", "XchgRateInf", "ChrgBr", "ChqInstr", "UltmtDbtr", "IntrmyAgt1",
                    "IntrmyAgt1Acct", "IntrmyAgt2", "IntrmyAgt2Acct", "IntrmyAgt3", "IntrmyAgt3Acct", "CdtrAgt",
                    "CdtrAgtAcct", "Cdtr", "CdtrAcct", "UltmtCdtr", "InstrForCdtrAgt", "InstrForDbtrAgt", "Purp",
                    "RgltryRptg", "Tax", "RltdRmtInf", "RmtInf"],
    "InitgPty": ["Nm", "PstlAdr", "Id", "CtryOfRes", "CtctDtls"],
    "Dbtr": ["Nm", "PstlAdr", "Id", "CtryOfRes", "CtctDtls"],
    "Cdtr": ["Nm", "PstlAdr", "Id", "CtryOfRes", "CtctDtls"],
    "PmtTpInf": ["InstrPrty", "SvcLvl", "LclInstrm", "CtgyPurp"],
    "DbtrAcct": ["Id", "Tp", "Ccy", "Nm"],
    "CdtrAcct": ["Id", "Tp", "Ccy", "Nm"],
    "FinInstnId": ["BIC", "ClrSysMmbId", "Nm", "PstlAdr", "Othr"],
    "ClrSysMmbId": ["ClrSysId", "MmbId"],
    "Othr": ["Id", "SchmeNm", "Issr"],
    "PmtId": ["InstrId", "EndToEndId"],
    "RmtInf": ["Ustrd", "Strd"],
}


def transfer(**overrides) -> CreditTransfer:
    values = {"end_to_end_id": "PAYOUT-17", "amount": D("3324.70"), "creditor_name": "BRF Solrosen",
              "creditor_account": BankgiroAccount("5050-1055"), "remittance_text": "Självfaktura S-1257"}
    values.update(overrides)
    return CreditTransfer(**values)


def two_payments() -> list[CreditTransfer]:
    return [
        transfer(),
        transfer(end_to_end_id="PAYOUT-18", amount=D("1200.05"), creditor_name="BRF Åkerbäret",
                 creditor_account=IbanAccount("SE45 5000 0000 0583 9825 7466"), remittance_text="S-88"),
    ]


def build(payments=None, **overrides) -> bytes:
    arguments = {"message_id": "PO-20250425-1", "created_at": CREATED_AT, "debtor": DEBTOR,
                 "payments": two_payments() if payments is None else payments, "execution_date": EXECUTION_DATE}
    arguments.update(overrides)
    return build_pain001(**arguments)


def local(element: ET.Element) -> str:
    namespace, _, name = element.tag.rpartition("}")
    assert namespace == "{" + NAMESPACE, element.tag
    return name


def text(parent: ET.Element, path: str) -> str:
    element = parent.find("/".join(f"p:{tag}" for tag in path.split("/")), NS)
    assert element is not None, path
    return element.text


def assert_xsd_order(element: ET.Element) -> None:
    """Every element's children appear in the XSD's order (repeats only of the last, repeatable one)."""
    sequence = XSD_SEQUENCES.get(local(element))
    children = [local(child) for child in element]
    if sequence is not None:
        positions = [sequence.index(name) for name in children]
        assert positions == sorted(positions), (local(element), children)
    for child in element:
        assert_xsd_order(child)


def children(parent: ET.Element, path: str = ".") -> list[str]:
    element = parent if path == "." else parent.find("/".join(f"p:{tag}" for tag in path.split("/")), NS)
    return [local(child) for child in element]


def test_two_payment_file_parsed_back():
    data = build()
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(data)
    assert root.tag == f"{{{NAMESPACE}}}Document"
    assert_xsd_order(root)

    initiation = root.find("p:CstmrCdtTrfInitn", NS)
    assert children(initiation) == ["GrpHdr", "PmtInf"]
    header = initiation.find("p:GrpHdr", NS)
    assert children(header) == ["MsgId", "CreDtTm", "NbOfTxs", "CtrlSum", "InitgPty"]
    assert text(header, "MsgId") == "PO-20250425-1"
    assert text(header, "CreDtTm") == "2025-04-24T16:05:09"  # Swedish local time, no fraction
    assert text(header, "NbOfTxs") == "2"
    assert text(header, "CtrlSum") == "4524.75"
    assert text(header, "InitgPty/Nm") == "RE&GO AB"
    assert text(header, "InitgPty/Id/OrgId/Othr/Id") == "5566778899"

    information = initiation.find("p:PmtInf", NS)
    assert children(information) == ["PmtInfId", "PmtMtd", "NbOfTxs", "CtrlSum", "PmtTpInf", "ReqdExctnDt", "Dbtr",
                                     "DbtrAcct", "DbtrAgt", "CdtTrfTxInf", "CdtTrfTxInf"]
    assert text(information, "PmtMtd") == "TRF"
    assert (text(information, "NbOfTxs"), text(information, "CtrlSum")) == ("2", "4524.75")
    assert text(information, "PmtTpInf/SvcLvl/Cd") == "NURG"
    assert text(information, "PmtTpInf/CtgyPurp/Cd") == "SUPP"
    assert text(information, "ReqdExctnDt") == "2025-04-25"
    assert text(information, "Dbtr/Nm") == "RE&GO AB"
    assert text(information, "Dbtr/PstlAdr/Ctry") == "SE"
    assert text(information, "DbtrAcct/Id/IBAN") == "SE3550000000054910000003"
    assert text(information, "DbtrAcct/Ccy") == "SEK"
    assert text(information, "DbtrAgt/FinInstnId/BIC") == "ESSESESS"

    bankgiro, iban = information.findall("p:CdtTrfTxInf", NS)
    assert children(bankgiro) == ["PmtId", "Amt", "CdtrAgt", "Cdtr", "CdtrAcct", "RmtInf"]
    assert (text(bankgiro, "PmtId/InstrId"), text(bankgiro, "PmtId/EndToEndId")) == ("PAYOUT-17", "PAYOUT-17")
    amount = bankgiro.find("p:Amt/p:InstdAmt", NS)
    assert (amount.text, amount.attrib) == ("3324.70", {"Ccy": "SEK"})
    assert text(bankgiro, "CdtrAgt/FinInstnId/ClrSysMmbId/ClrSysId/Cd") == "SESBA"
    assert text(bankgiro, "CdtrAgt/FinInstnId/ClrSysMmbId/MmbId") == "9900"
    assert text(bankgiro, "Cdtr/Nm") == "BRF Solrosen"
    assert children(bankgiro, "CdtrAcct/Id/Othr") == ["Id", "SchmeNm"]
    assert text(bankgiro, "CdtrAcct/Id/Othr/Id") == "50501055"
    assert text(bankgiro, "CdtrAcct/Id/Othr/SchmeNm/Prtry") == "BGNR"
    assert text(bankgiro, "RmtInf/Ustrd") == "Självfaktura S-1257"

    assert children(iban) == ["PmtId", "Amt", "Cdtr", "CdtrAcct", "RmtInf"]  # a Swedish IBAN needs no agent
    assert text(iban, "PmtId/EndToEndId") == "PAYOUT-18"
    assert text(iban, "Amt/InstdAmt") == "1200.05"
    assert text(iban, "Cdtr/Nm") == "BRF Åkerbäret"
    assert text(iban, "CdtrAcct/Id/IBAN") == "SE4550000000058398257466"
    assert text(iban, "RmtInf/Ustrd") == "S-88"

    assert parse_pain001_summary(data) == ("PO-20250425-1", 2, D("4524.75"), ("PAYOUT-17", "PAYOUT-18"))


def test_swedish_bank_account_and_foreign_iban():
    payments = [
        transfer(end_to_end_id="A", creditor_account=SwedishBankAccount(clearing="6789", account="123 456 789")),
        # Swedbank's five-digit clearing number: its check digit is not part of the SESBA member id or the account.
        transfer(end_to_end_id="B", creditor_account=SwedishBankAccount(clearing="8327-9", account="12.345.678-9")),
        transfer(end_to_end_id="C", creditor_account=IbanAccount("NO93 8601 1117 947", bic="DNBANOKK")),
    ]
    information = ET.fromstring(build(payments)).find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    handelsbanken, swedbank, norwegian = information.findall("p:CdtTrfTxInf", NS)
    for transaction, member, account in ((handelsbanken, "6789", "123456789"), (swedbank, "8327", "123456789")):
        assert text(transaction, "CdtrAgt/FinInstnId/ClrSysMmbId/ClrSysId/Cd") == "SESBA"
        assert text(transaction, "CdtrAgt/FinInstnId/ClrSysMmbId/MmbId") == member
        assert text(transaction, "CdtrAcct/Id/Othr/Id") == account
        assert text(transaction, "CdtrAcct/Id/Othr/SchmeNm/Cd") == "BBAN"
        assert text(transaction, "Cdtr/PstlAdr/Ctry") == "SE"
    assert children(norwegian) == ["PmtId", "Amt", "CdtrAgt", "Cdtr", "CdtrAcct", "RmtInf"]
    assert text(norwegian, "CdtrAgt/FinInstnId/BIC") == "DNBANOKK"
    assert text(norwegian, "CdtrAcct/Id/IBAN") == "NO9386011117947"
    assert text(norwegian, "Cdtr/PstlAdr/Ctry") == "NO"


def test_names_with_markup_characters_and_swedish_letters_survive():
    name = 'Brf <Åäö & Co> "Öster"'
    remittance = "S-1 <&> åäöÅÄÖ é"
    data = build([transfer(creditor_name=name, remittance_text=remittance)],
                 debtor=Debtor(name="Laddning & Co <AB>", org_number="5565475489", iban=DEBTOR.iban, bic=DEBTOR.bic))
    for escaped in (b"&amp;", b"&lt;", b"&gt;"):
        assert escaped in data
    assert "Åäö".encode() in data  # UTF-8, not character references
    transaction = ET.fromstring(data).find("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", NS)
    assert text(transaction, "Cdtr/Nm") == name
    assert text(transaction, "RmtInf/Ustrd") == remittance
    header = ET.fromstring(data).find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert text(header, "InitgPty/Nm") == "Laddning & Co <AB>"


def test_output_is_deterministic():
    assert build() == build()
    assert build(payments=two_payments()[::-1]) != build()


@pytest.mark.parametrize(("make", "message"), [
    (lambda: BankgiroAccount("5050-1056"), "check digit"),
    (lambda: BankgiroAccount("505-10"), "7 or 8 digits"),
    (lambda: IbanAccount("SE45 5000 0000 0583 9825 7467"), "wrong check digits"),
    (lambda: IbanAccount("SE45 5000 0000 0583 9825 746"), "24 characters"),
    (lambda: IbanAccount("NO93 8601 1117 947"), "needs the BIC"),
    (lambda: IbanAccount("SE45 5000 0000 0583 9825 7466", bic="ESSE"), "not a BIC"),
    (lambda: SwedishBankAccount(clearing="123", account="1234567"), "clearing number"),
    (lambda: SwedishBankAccount(clearing="9900", account="1234567"), "Bankgirot"),
    (lambda: SwedishBankAccount(clearing="6789", account="12345678901"), "1 to 10 digits"),
    (lambda: transfer(amount=D("0.00")), "greater than zero"),
    (lambda: transfer(amount=D("-5.00")), "greater than zero"),
    (lambda: transfer(amount=D("10.005")), "more than two decimals"),
    (lambda: transfer(amount=10.5), "must be a Decimal"),
    (lambda: transfer(amount=10), "must be a Decimal"),
    (lambda: transfer(amount=D("NaN")), "must be a number"),
    (lambda: transfer(amount=D("10000000000.00")), "larger than"),
    (lambda: transfer(remittance_text="x" * 141), "at most 140"),
    (lambda: transfer(remittance_text=""), "remittance text is empty"),
    (lambda: transfer(creditor_name="BRF\x07Bell"), "control character"),
    (lambda: transfer(end_to_end_id="X" * 36), "1 to 35 characters"),
    (lambda: transfer(end_to_end_id="PAYOUT_17"), "may only contain"),
    (lambda: transfer(creditor_account="5050-1055"), "must be a Bankgiro number"),
    (lambda: Debtor(name="RE&GO AB", org_number="556677-8898", iban=DEBTOR.iban, bic="ESSESESS"), "check digit"),
    (lambda: build(payments=[]), "at least one payment"),
    (lambda: build(payments=[transfer(), transfer()]), "appears twice"),
    (lambda: build(created_at=datetime(2025, 4, 24, 12)), "aware datetime"),  # noqa: DTZ001 (the naive case)
    (lambda: build(execution_date=date(2025, 4, 23)), "before the file was created"),
    (lambda: build(execution_date=datetime(2025, 4, 25, tzinfo=UTC)), "must be a date"),
    (lambda: build(message_id=""), "message id"),
])
def test_invalid_input_is_refused(make, message):
    with pytest.raises(PaymentFileError, match=message) as caught:
        make()
    # A translatable template with its parameters, as the admin shows it.
    assert caught.value.template % caught.value.params == str(caught.value)


def test_execution_date_compared_in_swedish_time():
    # 23:30 UTC on 24 April is already 25 April in Stockholm: paying on the 24th would be in the past.
    late_evening = datetime(2025, 4, 24, 23, 30, tzinfo=UTC)
    with pytest.raises(PaymentFileError, match="before the file was created"):
        build(created_at=late_evening, execution_date=date(2025, 4, 24))
    header = ET.fromstring(build(created_at=late_evening)).find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert text(header, "CreDtTm") == "2025-04-25T01:30:00"


def replace_once(data: bytes, old: str, new: str) -> bytes:
    assert data.count(old.encode()) == 1, old
    return data.replace(old.encode(), new.encode())


@pytest.mark.parametrize(("old", "new", "message"), [
    ("<NbOfTxs>2</NbOfTxs>\n      <CtrlSum>4524.75</CtrlSum>\n      <InitgPty>",
     "<NbOfTxs>3</NbOfTxs>\n      <CtrlSum>4524.75</CtrlSum>\n      <InitgPty>", "group header says 3 transactions"),
    ("<CtrlSum>4524.75</CtrlSum>\n      <InitgPty>", "<CtrlSum>4524.76</CtrlSum>\n      <InitgPty>",
     "group header says a control sum of 4524.76"),
    ("<NbOfTxs>2</NbOfTxs>\n      <CtrlSum>4524.75</CtrlSum>\n      <PmtTpInf>",
     "<NbOfTxs>1</NbOfTxs>\n      <CtrlSum>4524.75</CtrlSum>\n      <PmtTpInf>",
     "block PO-20250425-1 says 1 transactions"),
    ("<CtrlSum>4524.75</CtrlSum>\n      <PmtTpInf>", "<CtrlSum>4524.70</CtrlSum>\n      <PmtTpInf>",
     "block PO-20250425-1 says a control sum of 4524.70"),
    ('<InstdAmt Ccy="SEK">1200.05</InstdAmt>', '<InstdAmt Ccy="SEK">12OO.05</InstdAmt>', "is not a number"),
    ("<MsgId>PO-20250425-1</MsgId>", "<MsgId />", "no message id"),
    ("urn:iso:std:iso:20022:tech:xsd:pain.001.001.03", "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09",
     "not a pain.001.001.03 document"),
    ("</Document>", "</Documen>", "not well-formed"),
    ('<?xml version="1.0" encoding="UTF-8"?>',
     '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE d [<!ENTITY a "b">]>', "document type declaration"),
])
def test_summary_refuses_files_that_contradict_themselves(old, new, message):
    with pytest.raises(PaymentFileError, match=message):
        parse_pain001_summary(replace_once(build(), old, new))


def test_summary_reads_a_file_with_several_payment_blocks():
    # Files from elsewhere (or a later version of ours) may split the payments into several PmtInf blocks.
    data = build()
    root = ET.fromstring(data)
    initiation = root.find("p:CstmrCdtTrfInitn", NS)
    first = initiation.find("p:PmtInf", NS)
    second = ET.fromstring(ET.tostring(first))
    second_transactions = second.findall(f"{{{NAMESPACE}}}CdtTrfTxInf")
    second.remove(second_transactions[0])
    second_transactions[1].find(f"{{{NAMESPACE}}}PmtId/{{{NAMESPACE}}}EndToEndId").text = "PAYOUT-19"
    second.find(f"{{{NAMESPACE}}}NbOfTxs").text = "1"
    second.find(f"{{{NAMESPACE}}}CtrlSum").text = "1200.05"
    initiation.append(second)
    header = initiation.find("p:GrpHdr", NS)
    header.find("p:NbOfTxs", NS).text = "3"
    header.find("p:CtrlSum", NS).text = "5724.80"
    summary = parse_pain001_summary(ET.tostring(root))
    assert summary.count == 3
    assert summary.control_sum == D("5724.80")
    assert summary.end_to_end_ids == ("PAYOUT-17", "PAYOUT-18", "PAYOUT-19")


ORE_AMOUNTS = st.integers(min_value=1, max_value=999_999_999_999).map(lambda ore: (D(ore) / 100).quantize(D("0.01")))


@given(st.lists(ORE_AMOUNTS, min_size=1, max_size=40))
def test_control_sum_is_the_exact_sum_of_amounts(amounts):
    payments = [transfer(end_to_end_id=f"P-{index}", amount=amount) for index, amount in enumerate(amounts)]
    data = build(payments)
    exact = sum(amounts, D("0"))
    root = ET.fromstring(data)
    written = [D(element.text) for element in root.iter(f"{{{NAMESPACE}}}InstdAmt")]
    assert written == amounts
    control_sums = [element.text for element in root.iter(f"{{{NAMESPACE}}}CtrlSum")]
    assert control_sums == [f"{exact:.2f}", f"{exact:.2f}"]  # group header and PmtInf
    assert all(len(element.text.rpartition(".")[2]) == 2 for element in root.iter(f"{{{NAMESPACE}}}InstdAmt"))
    summary = parse_pain001_summary(data)
    assert (summary.count, summary.control_sum) == (len(amounts), exact)
