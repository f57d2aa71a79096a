// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

/// @title The MedRec system contracts' fixed addresses and the interfaces they use of each other.
/// @notice Addresses are "MedRec" in ASCII followed by an index (contracts/addresses.ts): far from
/// the precompiles and unreachable by CREATE/CREATE2.
library MedRecSystem {
    address internal constant AUTHORITY_SET = 0x4D65645265630000000000000000000000000001;
    address internal constant REGISTRAR = 0x4D65645265630000000000000000000000000002;
    address internal constant RELATIONSHIPS = 0x4d65645265630000000000000000000000000003;
}

/// @notice Status of a relationship in a participant's Summary.
enum Status {
    None,
    AwaitingApproval,
    UpdatePending,
    Accepted,
    Rejected,
    Deleted
}

/// @notice Why a relationship is in a Summary: its owner is the relationship's patient, or a
/// viewer the patient granted a subset to.
enum Role {
    Patient,
    Viewer
}

interface IAuthoritySet {
    function isAuthority(address who) external view returns (bool);
}

interface IRegistrar {
    function summaryOf(address participant) external view returns (address);
    function isProviderAccount(address who) external view returns (bool);
}

interface ISummary {
    function owner() external view returns (address);
    function addRelationship(Role role, address by) external returns (bool);
    function relationshipUpdated(address by) external returns (bool);
    function relationshipTerminated(address by) external;
}

interface IRelationships {
    function isRelationship(address relationship) external view returns (bool);
    function recordBounty(uint256 pointerId, string calldata query) external returns (uint256);
}

interface IRelationship {
    function patientSummary() external view returns (address);
}

/// @notice Bounds of a page over a list of `n` items: [start, end). A huge `limit` cannot
/// overflow (it is compared with the remaining count), and an offset past the end is empty.
library Paging {
    function bounds(uint256 n, uint256 offset, uint256 limit) internal pure returns (uint256 start, uint256 end) {
        if (offset >= n) return (n, n);
        return (offset, limit > n - offset ? n : offset + limit);
    }

    function slice(address[] storage list, uint256 offset, uint256 limit) internal view returns (address[] memory out) {
        (uint256 start, uint256 end) = bounds(list.length, offset, limit);
        out = new address[](end - start);
        for (uint256 i = start; i < end; i++) out[i - start] = list[i];
    }
}
