// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {MedRecSystem, CloneArgs, Paging, Status, Role} from "./MedRecSystem.sol";

/// @title Summary: one participant's list of relationships, the "trail of bread-crumbs".
/// @notice The implementation at MedRecSystem.SUMMARY_IMPLEMENTATION; each participant's
/// Summary is an EIP-1167 clone of it made by the Registrar at registration, whose code carries
/// [owner at registration (20 bytes)][identity] (no constructor run, no initialiser); the owner
/// is replaced in storage only on rebind. Entries are added only by relationship clones the
/// Relationships factory made (checked by recomputing the CREATE2 address from the caller's
/// code), whose code lets only the granting side link: the provider for its patient, the
/// patient for a viewer. Only the owner accepts, rejects or deletes. A rejected or deleted
/// entry stays closed, so a provider cannot bring back what the owner dismissed. Every change
/// emits an event indexed by the owner, which nodes watch to notify. One storage slot per entry
/// (a list linked newest first) plus the head and count.
contract Summary {
    struct Entry {
        address relationship;
        Status status;
        Role role;
        uint64 addedAt;
        uint64 changedAt;
    }

    struct Packed {
        address previous;
        Status status;
        Role role;
        uint40 addedAt;
        uint40 changedAt;
    }

    address private _ownerOverride;
    address private _head;
    uint64 private _count;
    mapping(address => Packed) private _entries;

    event RelationshipAdded(address indexed owner, address indexed relationship, Role role);
    event StatusChanged(address indexed owner, address indexed relationship, Status status, address by);
    event OwnerChanged(address indexed previousOwner, address indexed newOwner);
    event RelationshipTerminated(address indexed owner, address indexed relationship, address by);

    error NotClone();
    error NotOwner(address caller);
    error NotRegistrar(address caller);
    error NotRelationship(address caller);
    error NotPatientSummary(address relationship);
    error UnknownRelationship(address relationship);
    error InvalidTransition(address relationship, Status from, Status to);

    modifier onlyOwner() {
        if (msg.sender != owner()) revert NotOwner(msg.sender);
        _;
    }

    function owner() public view returns (address o) {
        if (address(this) == MedRecSystem.SUMMARY_IMPLEMENTATION) revert NotClone();
        o = _ownerOverride;
        if (o == address(0)) o = CloneArgs.argAddress(0);
    }

    function registrar() external pure returns (address) {
        return MedRecSystem.REGISTRAR;
    }

    /// @notice The identity this Summary was registered under (fixed in its code).
    function identity() external view returns (string memory) {
        return string(CloneArgs.argTail(20));
    }

    modifier onlyRelationship() {
        if (!CloneArgs.isCloneBy(msg.sender, MedRecSystem.RELATIONSHIPS)) revert NotRelationship(msg.sender);
        _;
    }

    /// @notice Called by a relationship clone to link itself here; `by` is the party acting on
    /// it. Which Summary is its patient's is read from the clone's code. A new entry awaits
    /// approval; an existing one is treated as an update. Returns whether anything changed.
    function addRelationship(Role role, address by) external onlyRelationship returns (bool) {
        return _add(msg.sender, role, CloneArgs.argAddressOf(msg.sender, 20) == address(this), by);
    }

    function relationshipUpdated(address by) external onlyRelationship returns (bool) {
        return _updated(msg.sender, by);
    }

    function relationshipTerminated(address by) external onlyRelationship {
        _terminated(msg.sender, by);
    }

    function _add(address r, Role role, bool isPatientSide, address by) internal returns (bool) {
        // The patient's own Summary is linked only as Patient, and a viewer's never as Patient.
        if ((role == Role.Patient) != isPatientSide) revert NotPatientSummary(r);
        Packed storage e = _entries[r];
        if (e.status != Status.None) return _touch(r, e, by);
        _entries[r] = Packed(_head, Status.AwaitingApproval, role, uint40(block.timestamp), uint40(block.timestamp));
        _head = r;
        _count += 1;
        address o = owner();
        emit RelationshipAdded(o, r, role);
        emit StatusChanged(o, r, Status.AwaitingApproval, by);
        return true;
    }

    function _updated(address r, address by) internal returns (bool) {
        Packed storage e = _entries[r];
        if (e.status == Status.None) return false;
        return _touch(r, e, by);
    }

    function _terminated(address r, address by) internal {
        if (_entries[r].status == Status.None) return;
        emit RelationshipTerminated(owner(), r, by);
    }

    function accept(address relationship) external onlyOwner {
        _move(relationship, Status.Accepted);
    }

    function reject(address relationship) external onlyOwner {
        _move(relationship, Status.Rejected);
    }

    function remove(address relationship) external onlyOwner {
        _move(relationship, Status.Deleted);
    }

    function transferOwner(address newOwner) external {
        if (msg.sender != MedRecSystem.REGISTRAR) revert NotRegistrar(msg.sender);
        emit OwnerChanged(owner(), newOwner);
        _ownerOverride = newOwner;
    }

    function count() external view returns (uint256) {
        return _count;
    }

    function entryOf(address relationship) public view returns (Entry memory e) {
        Packed storage p = _entries[relationship];
        if (p.status != Status.None) e = Entry(relationship, p.status, p.role, p.addedAt, p.changedAt);
    }

    /// @notice Newest first: offset 0 is the entry added last.
    function entries(uint256 offset, uint256 limit) external view returns (Entry[] memory out) {
        (uint256 start, uint256 end) = Paging.bounds(_count, offset, limit);
        out = new Entry[](end - start);
        address r = _head;
        for (uint256 i = 0; i < start; i++) r = _entries[r].previous;
        for (uint256 i = start; i < end; i++) {
            out[i - start] = entryOf(r);
            r = _entries[r].previous;
        }
    }

    function _touch(address r, Packed storage e, address by) private returns (bool) {
        if (e.status != Status.Accepted) return false;
        e.status = Status.UpdatePending;
        e.changedAt = uint40(block.timestamp);
        emit StatusChanged(owner(), r, Status.UpdatePending, by);
        return true;
    }

    /// Allowed: AwaitingApproval or UpdatePending -> Accepted | Rejected; any open status -> Deleted.
    function _move(address relationship, Status to) private {
        Packed storage e = _entries[relationship];
        Status from = e.status;
        // Unknown entries revert instead of touching another one (a MedRec 2.0 hole).
        if (from == Status.None) revert UnknownRelationship(relationship);
        bool pending = from == Status.AwaitingApproval || from == Status.UpdatePending;
        bool ok = to == Status.Deleted ? (pending || from == Status.Accepted) : pending;
        if (!ok) revert InvalidTransition(relationship, from, to);
        e.status = to;
        e.changedAt = uint40(block.timestamp);
        emit StatusChanged(msg.sender, relationship, to, msg.sender);
    }
}
