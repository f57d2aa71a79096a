// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {MedRecSystem, Paging, Status, Role, IRelationships, IRelationship} from "./MedRecSystem.sol";

/// @title Summary: one participant's list of relationships, the "trail of bread-crumbs".
/// @notice Created by the Registrar when an identity is registered; moves with the identity on
/// rebind. Entries are added only by relationship contracts made by the Relationships factory,
/// whose code lets only the granting side link: the provider for its patient, the patient for a
/// viewer. Only the owner accepts, rejects or deletes. A rejected or deleted entry stays closed,
/// so a provider cannot bring back what the owner dismissed. Every change emits an event indexed
/// by the owner, which nodes watch to notify.
contract Summary {
    struct Entry {
        address relationship;
        Status status;
        Role role;
        uint64 addedAt;
        uint64 changedAt;
    }

    address public immutable registrar;
    address public owner;

    Entry[] private _entries;
    mapping(address => uint256) private _indexPlusOne;

    event RelationshipAdded(address indexed owner, address indexed relationship, Role role);
    event StatusChanged(address indexed owner, address indexed relationship, Status status, address by);
    event OwnerChanged(address indexed previousOwner, address indexed newOwner);
    event RelationshipTerminated(address indexed owner, address indexed relationship, address by);

    error NotOwner(address caller);
    error NotRegistrar(address caller);
    error NotRelationship(address caller);
    error NotPatientSummary(address relationship);
    error UnknownRelationship(address relationship);
    error InvalidTransition(address relationship, Status from, Status to);

    constructor(address owner_) {
        registrar = msg.sender;
        owner = owner_;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyRelationship() {
        if (!IRelationships(MedRecSystem.RELATIONSHIPS).isRelationship(msg.sender)) revert NotRelationship(msg.sender);
        _;
    }

    /// @notice Called by a relationship contract to link itself here; `by` is the party acting on it. A new entry awaits
    /// approval; an existing one is treated as an update. Returns whether anything changed.
    function addRelationship(Role role, address by) external onlyRelationship returns (bool) {
        address r = msg.sender;
        bool isPatientSide = IRelationship(r).patientSummary() == address(this);
        // The patient's own Summary is linked only as Patient, and a viewer's never as Patient.
        if ((role == Role.Patient) != isPatientSide) revert NotPatientSummary(r);
        if (_indexPlusOne[r] != 0) return _touch(_indexPlusOne[r] - 1, by);
        _entries.push(Entry(r, Status.AwaitingApproval, role, uint64(block.timestamp), uint64(block.timestamp)));
        _indexPlusOne[r] = _entries.length;
        emit RelationshipAdded(owner, r, role);
        emit StatusChanged(owner, r, Status.AwaitingApproval, by);
        return true;
    }

    /// @notice Called by a linked relationship contract when its records or grants change.
    /// Unlinked or closed entries are left alone (returns false) so the update itself never fails.
    function relationshipUpdated(address by) external onlyRelationship returns (bool) {
        uint256 i = _indexPlusOne[msg.sender];
        if (i == 0) return false;
        return _touch(i - 1, by);
    }

    /// @notice Called by a linked relationship contract when either side ends it: the owner is
    /// told whatever the entry's status.
    function relationshipTerminated(address by) external onlyRelationship {
        if (_indexPlusOne[msg.sender] == 0) return;
        emit RelationshipTerminated(owner, msg.sender, by);
    }

    function accept(address relationship) external onlyOwner {
        _move(relationship, Status.Accepted);
    }

    function reject(address relationship) external onlyOwner {
        _move(relationship, Status.Rejected);
    }

    /// @notice Deletes the entry from the owner's view; the record of it remains (status Deleted).
    function remove(address relationship) external onlyOwner {
        _move(relationship, Status.Deleted);
    }

    /// @notice The Registrar moves the Summary with its identity when the identity is rebound.
    function transferOwner(address newOwner) external {
        if (msg.sender != registrar) revert NotRegistrar(msg.sender);
        emit OwnerChanged(owner, newOwner);
        owner = newOwner;
    }

    function count() external view returns (uint256) {
        return _entries.length;
    }

    /// @notice The entry for `relationship`; status None when it was never linked here.
    function entryOf(address relationship) external view returns (Entry memory e) {
        uint256 i = _indexPlusOne[relationship];
        if (i != 0) e = _entries[i - 1];
    }

    function entries(uint256 offset, uint256 limit) external view returns (Entry[] memory out) {
        (uint256 start, uint256 end) = Paging.bounds(_entries.length, offset, limit);
        out = new Entry[](end - start);
        for (uint256 i = start; i < end; i++) out[i - start] = _entries[i];
    }

    function _touch(uint256 i, address by) private returns (bool) {
        Entry storage e = _entries[i];
        if (e.status != Status.Accepted) return false;
        e.status = Status.UpdatePending;
        e.changedAt = uint64(block.timestamp);
        emit StatusChanged(owner, e.relationship, Status.UpdatePending, by);
        return true;
    }

    /// Allowed: AwaitingApproval or UpdatePending -> Accepted | Rejected; any open status -> Deleted.
    function _move(address relationship, Status to) private {
        uint256 i = _indexPlusOne[relationship];
        // Unknown entries revert instead of touching another one (a MedRec 2.0 hole).
        if (i == 0) revert UnknownRelationship(relationship);
        Entry storage e = _entries[i - 1];
        Status from = e.status;
        bool pending = from == Status.AwaitingApproval || from == Status.UpdatePending;
        bool ok = to == Status.Deleted ? (pending || from == Status.Accepted) : pending;
        if (!ok) revert InvalidTransition(relationship, from, to);
        e.status = to;
        e.changedAt = uint64(block.timestamp);
        emit StatusChanged(owner, relationship, to, msg.sender);
    }
}
