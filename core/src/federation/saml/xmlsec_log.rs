//! libxmlsec1 and libxml2 report failures by printing to stderr (for example
//! `func=xmlSecOpenSSLEvpSignatureVerify:file=…` when a signature does not
//! verify), which would break the service's one-JSON-object-per-line log.
//! [`install`] hands both libraries' reports to `tracing` at debug level
//! instead. The messages are the libraries' diagnostics (function, object,
//! reason); they carry no key material. The refusal itself is reported by
//! the caller with its reason, so the detail only matters when debugging.
//!
//! samael keeps its libxmlsec1 bindings private and the `libxml` crate
//! declares libxml2's error handlers with the Rust ABI, so the few C entry
//! points are declared here, as the headers of libxmlsec1 1.2.37
//! (`xmlsec/errors.h`) and libxml2 2.9 (`libxml/xmlerror.h`, `globals.h`)
//! define them. libxml2's variadic `xmlGenericError` cannot be implemented
//! in stable Rust; every error libxml2 raises goes to the structured handler
//! first when one is set, and libxmlsec1's own reporter (which would print
//! through `xmlGenericError`) is replaced.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Once;

/// `xmlSecErrorsCallback`.
type XmlSecErrorsCallback = unsafe extern "C" fn(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
);

/// `xmlStructuredErrorFunc`.
type XmlStructuredErrorFunc = unsafe extern "C" fn(user_data: *mut c_void, error: *const XmlError);

/// The leading fields of libxml2's `xmlError`; only these are read.
#[repr(C)]
struct XmlError {
    domain: c_int,
    code: c_int,
    message: *const c_char,
}

#[link(name = "xmlsec1")]
extern "C" {
    fn xmlSecErrorsSetCallback(callback: XmlSecErrorsCallback);
    /// Whether libxmlsec1's stock reporters print (they do by default).
    fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: c_int);
}

#[link(name = "xml2")]
extern "C" {
    fn xmlInitParser();
    /// The handler of the calling thread (libxml2's error state is per thread).
    fn xmlSetStructuredErrorFunc(ctx: *mut c_void, handler: XmlStructuredErrorFunc);
    /// The handler every thread starts with that first uses libxml2 later.
    fn xmlThrDefSetStructuredErrorFunc(ctx: *mut c_void, handler: XmlStructuredErrorFunc);
}

static INSTALL: Once = Once::new();

/// Routes libxmlsec1's and libxml2's error reports to `tracing`; called
/// before every use of the libraries. The libxml2 handlers are installed
/// once, before any thread has used libxml2, so every thread starts with
/// them. libxmlsec1's reporter is set on every call because samael's lazy
/// initialisation of libxmlsec1-openssl (on its first use, inside the
/// first verification or signature) puts the stock OpenSSL reporter back;
/// that one is muted, so even the first use never prints.
pub fn install() {
    INSTALL.call_once(|| {
        // SAFETY: plain setters of process-wide handler pointers and flags;
        // the handler is an `extern "C"` function with the header's
        // signature that lives for the whole program.
        unsafe {
            xmlInitParser();
            xmlThrDefSetStructuredErrorFunc(std::ptr::null_mut(), libxml2_error);
            xmlSetStructuredErrorFunc(std::ptr::null_mut(), libxml2_error);
            xmlSecErrorsDefaultCallbackEnableOutput(0);
        }
    });
    // SAFETY: as above; a single pointer store in libxmlsec1.
    unsafe { xmlSecErrorsSetCallback(xmlsec_error) };
}

/// A C string from the libraries, `""` for NULL.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string valid for the call.
unsafe fn text<'a>(s: *const c_char) -> std::borrow::Cow<'a, str> {
    if s.is_null() {
        "".into()
    } else {
        CStr::from_ptr(s).to_string_lossy()
    }
}

unsafe extern "C" fn xmlsec_error(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
) {
    tracing::debug!(
        func = %text(func),
        object = %text(error_object),
        subject = %text(error_subject),
        reason,
        detail = %text(msg),
        "libxmlsec1"
    );
}

unsafe extern "C" fn libxml2_error(_user_data: *mut c_void, error: *const XmlError) {
    if let Some(e) = error.as_ref() {
        tracing::debug!(
            domain = e.domain,
            code = e.code,
            detail = %text(e.message).trim_end(),
            "libxml2"
        );
    }
}
