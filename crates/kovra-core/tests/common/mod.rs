//! What the policy test binaries share.

use kovra_core::policy::Decision;

/// The order of the laws: `Allow < NeedsProof < Deny < Unaddressable`.
pub fn strictness(d: Decision) -> u8 {
    match d {
        Decision::Allow => 0,
        Decision::NeedsProof(_) => 1,
        Decision::Deny(_) => 2,
        Decision::Unaddressable => 3,
    }
}
