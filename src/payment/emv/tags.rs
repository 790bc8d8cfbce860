//! EMV tag dictionary: names for diagnostics and data formats for DOL
//! padding (EMV Book 3, Annex A). Only the tags the contact and contactless
//! kernels meet are listed; unknown tags still work, they just print as hex.

use super::tlv::Tag;

/// Data format of an EMV data element; it decides how a DOL entry is
/// padded or truncated (Book 3, 5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Numeric BCD, right-justified: pad/truncate on the left.
    N,
    /// Compressed numeric, left-justified, padded with `F`.
    Cn,
    /// Binary.
    B,
    /// Alphanumeric (special) text.
    An,
}

/// One dictionary entry.
#[derive(Debug, Clone, Copy)]
pub struct TagInfo {
    /// Tag value.
    pub tag: u32,
    /// Name from EMV Book 3 Annex A.
    pub name: &'static str,
    /// Data format.
    pub format: Format,
    /// Whether the value identifies the cardholder and must be masked in
    /// logs and traces.
    pub sensitive: bool,
}

macro_rules! tags {
    ($( $const:ident = $tag:literal, $fmt:ident, $sens:literal, $name:literal; )*) => {
        $(
            #[doc = $name]
            pub const $const: u32 = $tag;
        )*
        /// Every known tag.
        pub const DICTIONARY: &[TagInfo] = &[
            $( TagInfo { tag: $tag, name: $name, format: Format::$fmt, sensitive: $sens }, )*
        ];
    };
}

tags! {
    AID_CARD = 0x4F, B, false, "Application Identifier (ADF Name)";
    APP_LABEL = 0x50, An, false, "Application Label";
    TRACK2 = 0x57, B, true, "Track 2 Equivalent Data";
    PAN = 0x5A, Cn, true, "Application Primary Account Number (PAN)";
    CARDHOLDER_NAME = 0x5F20, An, true, "Cardholder Name";
    EXPIRY_DATE = 0x5F24, N, false, "Application Expiration Date";
    EFFECTIVE_DATE = 0x5F25, N, false, "Application Effective Date";
    ISSUER_COUNTRY = 0x5F28, N, false, "Issuer Country Code";
    TXN_CURRENCY = 0x5F2A, N, false, "Transaction Currency Code";
    LANGUAGE_PREF = 0x5F2D, An, false, "Language Preference";
    SERVICE_CODE = 0x5F30, N, false, "Service Code";
    PAN_SEQ = 0x5F34, N, false, "Application PAN Sequence Number";
    TXN_CURRENCY_EXP = 0x5F36, N, false, "Transaction Currency Exponent";
    FCI_TEMPLATE = 0x6F, B, false, "File Control Information (FCI) Template";
    DIR_ENTRY = 0x61, B, false, "Application Template";
    RECORD_TEMPLATE = 0x70, B, false, "READ RECORD Response Message Template";
    ISSUER_SCRIPT_1 = 0x71, B, false, "Issuer Script Template 1";
    ISSUER_SCRIPT_2 = 0x72, B, false, "Issuer Script Template 2";
    RESPONSE_FORMAT_2 = 0x77, B, false, "Response Message Template Format 2";
    RESPONSE_FORMAT_1 = 0x80, B, false, "Response Message Template Format 1";
    AMOUNT_BINARY = 0x81, B, false, "Amount, Authorised (Binary)";
    AIP = 0x82, B, false, "Application Interchange Profile";
    COMMAND_TEMPLATE = 0x83, B, false, "Command Template";
    DF_NAME = 0x84, B, false, "Dedicated File (DF) Name";
    ISSUER_SCRIPT_COMMAND = 0x86, B, false, "Issuer Script Command";
    APP_PRIORITY = 0x87, B, false, "Application Priority Indicator";
    SFI = 0x88, B, false, "Short File Identifier (SFI)";
    AUTH_CODE = 0x89, An, false, "Authorisation Code";
    ARC = 0x8A, An, false, "Authorisation Response Code";
    CDOL1 = 0x8C, B, false, "Card Risk Management Data Object List 1 (CDOL1)";
    CDOL2 = 0x8D, B, false, "Card Risk Management Data Object List 2 (CDOL2)";
    CVM_LIST = 0x8E, B, false, "Cardholder Verification Method (CVM) List";
    CA_PK_INDEX = 0x8F, B, false, "Certification Authority Public Key Index";
    ISSUER_PK_CERT = 0x90, B, false, "Issuer Public Key Certificate";
    ISSUER_AUTH_DATA = 0x91, B, false, "Issuer Authentication Data";
    ISSUER_PK_REMAINDER = 0x92, B, false, "Issuer Public Key Remainder";
    SSAD = 0x93, B, false, "Signed Static Application Data";
    AFL = 0x94, B, false, "Application File Locator (AFL)";
    TVR = 0x95, B, false, "Terminal Verification Results";
    TDOL = 0x97, B, false, "Transaction Certificate Data Object List (TDOL)";
    TC_HASH = 0x98, B, false, "Transaction Certificate (TC) Hash Value";
    TXN_DATE = 0x9A, N, false, "Transaction Date";
    TSI = 0x9B, B, false, "Transaction Status Information";
    TXN_TYPE = 0x9C, N, false, "Transaction Type";
    DDF_NAME = 0x9D, B, false, "Directory Definition File (DDF) Name";
    FCI_PROPRIETARY = 0xA5, B, false, "File Control Information (FCI) Proprietary Template";
    AMOUNT_AUTHORISED = 0x9F02, N, false, "Amount, Authorised (Numeric)";
    AMOUNT_OTHER = 0x9F03, N, false, "Amount, Other (Numeric)";
    AMOUNT_OTHER_BINARY = 0x9F04, B, false, "Amount, Other (Binary)";
    AID_TERMINAL = 0x9F06, B, false, "Application Identifier (AID) - terminal";
    AUC = 0x9F07, B, false, "Application Usage Control";
    APP_VERSION_CARD = 0x9F08, B, false, "Application Version Number (card)";
    APP_VERSION_TERMINAL = 0x9F09, B, false, "Application Version Number (terminal)";
    CARDHOLDER_NAME_EXT = 0x9F0B, An, true, "Cardholder Name Extended";
    IAC_DEFAULT = 0x9F0D, B, false, "Issuer Action Code - Default";
    IAC_DENIAL = 0x9F0E, B, false, "Issuer Action Code - Denial";
    IAC_ONLINE = 0x9F0F, B, false, "Issuer Action Code - Online";
    IAD = 0x9F10, B, false, "Issuer Application Data";
    ISSUER_CODE_TABLE = 0x9F11, N, false, "Issuer Code Table Index";
    PREFERRED_NAME = 0x9F12, An, false, "Application Preferred Name";
    LAST_ONLINE_ATC = 0x9F13, B, false, "Last Online ATC Register";
    LCOL = 0x9F14, B, false, "Lower Consecutive Offline Limit";
    MERCHANT_CATEGORY = 0x9F15, N, false, "Merchant Category Code";
    MERCHANT_ID = 0x9F16, An, false, "Merchant Identifier";
    PIN_TRY_COUNTER = 0x9F17, B, false, "PIN Try Counter";
    SCRIPT_ID = 0x9F18, B, false, "Issuer Script Identifier";
    TERMINAL_COUNTRY = 0x9F1A, N, false, "Terminal Country Code";
    FLOOR_LIMIT = 0x9F1B, B, false, "Terminal Floor Limit";
    TERMINAL_ID = 0x9F1C, An, false, "Terminal Identification";
    TERMINAL_RISK_DATA = 0x9F1D, B, false, "Terminal Risk Management Data";
    IFD_SERIAL = 0x9F1E, An, false, "Interface Device (IFD) Serial Number";
    TRACK1_DISCRETIONARY = 0x9F1F, An, true, "Track 1 Discretionary Data";
    TXN_TIME = 0x9F21, N, false, "Transaction Time";
    UCOL = 0x9F23, B, false, "Upper Consecutive Offline Limit";
    AC = 0x9F26, B, false, "Application Cryptogram";
    CID = 0x9F27, B, false, "Cryptogram Information Data";
    ICC_PIN_PK_CERT = 0x9F2D, B, false, "ICC PIN Encipherment Public Key Certificate";
    ISSUER_PK_EXP = 0x9F32, B, false, "Issuer Public Key Exponent";
    TERMINAL_CAPABILITIES = 0x9F33, B, false, "Terminal Capabilities";
    CVM_RESULTS = 0x9F34, B, false, "Cardholder Verification Method (CVM) Results";
    TERMINAL_TYPE = 0x9F35, N, false, "Terminal Type";
    ATC = 0x9F36, B, false, "Application Transaction Counter (ATC)";
    UNPREDICTABLE_NUMBER = 0x9F37, B, false, "Unpredictable Number";
    PDOL = 0x9F38, B, false, "Processing Options Data Object List (PDOL)";
    POS_ENTRY_MODE = 0x9F39, N, false, "Point-of-Service (POS) Entry Mode";
    ADDITIONAL_CAPABILITIES = 0x9F40, B, false, "Additional Terminal Capabilities";
    TXN_SEQ_COUNTER = 0x9F41, N, false, "Transaction Sequence Counter";
    APP_CURRENCY = 0x9F42, N, false, "Application Currency Code";
    APP_CURRENCY_EXP = 0x9F44, N, false, "Application Currency Exponent";
    DATA_AUTH_CODE = 0x9F45, B, false, "Data Authentication Code";
    ICC_PK_CERT = 0x9F46, B, false, "ICC Public Key Certificate";
    ICC_PK_EXP = 0x9F47, B, false, "ICC Public Key Exponent";
    ICC_PK_REMAINDER = 0x9F48, B, false, "ICC Public Key Remainder";
    DDOL = 0x9F49, B, false, "Dynamic Data Authentication Data Object List (DDOL)";
    SDA_TAG_LIST = 0x9F4A, B, false, "Static Data Authentication Tag List";
    SDAD = 0x9F4B, B, false, "Signed Dynamic Application Data";
    ICC_DYNAMIC_NUMBER = 0x9F4C, B, false, "ICC Dynamic Number";
    LOG_ENTRY = 0x9F4D, B, false, "Log Entry";
    MERCHANT_NAME_LOCATION = 0x9F4E, An, false, "Merchant Name and Location";
    ISSUER_SCRIPT_RESULTS = 0x9F5B, B, false, "Issuer Script Results";
    TRANSACTION_CATEGORY = 0x9F53, An, false, "Transaction Category Code";
    FCI_ISSUER_DISCRETIONARY = 0xBF0C, B, false, "FCI Issuer Discretionary Data";
    KERNEL_ID = 0x9F2A, B, false, "Kernel Identifier";
    TTQ = 0x9F66, B, false, "Terminal Transaction Qualifiers (TTQ)";
    CARD_AUTH_DATA = 0x9F69, B, false, "Card Authentication Related Data";
    CTQ = 0x9F6C, B, false, "Card Transaction Qualifiers (CTQ)";
    FORM_FACTOR = 0x9F6E, B, false, "Form Factor Indicator / Third Party Data";
}

/// Looks a tag up in the dictionary.
pub fn info(tag: Tag) -> Option<&'static TagInfo> {
    DICTIONARY.iter().find(|i| i.tag == tag.0)
}

/// Human-readable name for diagnostics; unknown tags get a generic label.
pub fn name(tag: Tag) -> &'static str {
    info(tag).map_or("(unknown tag)", |i| i.name)
}

/// Data format for DOL padding; unknown tags are treated as binary, which is
/// what Book 3 5.4 prescribes for data the terminal does not know.
pub fn format(tag: Tag) -> Format {
    info(tag).map_or(Format::B, |i| i.format)
}

/// Whether a value must be masked before it appears in a log or trace.
pub fn is_sensitive(tag: Tag) -> bool {
    // 56 track 1, 9F6B contactless track 2, 9F1F and 9F20 the track 1 and 2
    // discretionary data (a CVV or iCVV lives there).
    info(tag).is_some_and(|i| i.sensitive) || matches!(tag.0, 0x56 | 0x9F6B | 0x9F1F | 0x9F20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_formats() {
        assert_eq!(name(Tag(0x9F02)), "Amount, Authorised (Numeric)");
        assert_eq!(format(Tag(0x9F02)), Format::N);
        assert_eq!(format(Tag(0x5A)), Format::Cn);
        assert_eq!(format(Tag(0xDF01)), Format::B);
        assert_eq!(name(Tag(0xDF01)), "(unknown tag)");
        assert!(is_sensitive(Tag(0x57)));
        assert!(is_sensitive(Tag(0x9F20)), "track 2 discretionary data");
        assert!(is_sensitive(Tag(0x9F1F)), "track 1 discretionary data");
        assert!(!is_sensitive(Tag(0x9F26)));
    }

    #[test]
    fn dictionary_has_no_duplicates() {
        let mut seen: Vec<u32> = DICTIONARY.iter().map(|i| i.tag).collect();
        seen.sort_unstable();
        let before = seen.len();
        seen.dedup();
        assert_eq!(before, seen.len());
    }
}
