// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {Paging, Role} from "../MedRecSystem.sol";
import {NextSystem, INextRegistrar, INextSummary, IRecordSummary} from "./NextSystem.sol";

/// @title Prototype design B: every relationship as a record inside the Relationships contract.
/// @notice A relationship is an id, address-shaped so clients and Summaries keep their types:
/// the low 20 bytes of keccak256(provider, patient, salt). No account, no code: every call names
/// the id as its first argument and every event carries it indexed. Same rules as the live PPR.
contract RelationshipRecords {
    struct Rel {
        // slot 1
        address provider;
        uint32 createdAt;
        uint32 pointerCount;
        bool consentRequired;
        bool linked;
        bool terminated;
        // slot 2
        address patientSummary;
        uint32 grantCount;
        // slot 3..
        string endpoint;
    }

    struct Pointer {
        bytes32 dataHash;
        bytes20 queryHash;
        uint8 fieldCount;
        uint24 version;
        /// Block numbers, not times: the PointerAdded / PointerUpdated log (with the query text)
        /// is then one block's read, and the time is that block's header's.
        uint32 createdBlock;
        uint32 updatedBlock;
    }

    struct Grant {
        uint64 id;
        uint64 grantedAt;
        uint64 expiresAt;
        bool active;
        bool providerApproved;
    }

    mapping(address => Rel) private _rels;
    mapping(address => address) public terminatedBy;
    mapping(address => mapping(uint256 => Pointer)) private _pointers;
    mapping(address => mapping(address => Grant)) private _grants;
    mapping(address => mapping(uint256 => uint256[])) private _grantPointers;
    mapping(address => mapping(uint256 => mapping(uint256 => uint256))) private _grantFields;
    mapping(address => address[]) private _viewers;
    mapping(address => mapping(address => bool)) private _everViewer;
    mapping(address => uint256) public bountyCount;

    event RelationshipCreated(address indexed patient, address indexed provider, address relationship);
    event BountyCreated(address indexed owner, address indexed relationship, uint256 indexed pointerId, uint256 index, string query);
    event EndpointChanged(address indexed relationship, string endpoint);
    event PointerAdded(address indexed relationship, uint256 indexed pointerId, string query, uint8 fieldCount, bytes32 dataHash);
    event PointerUpdated(address indexed relationship, uint256 indexed pointerId, bytes32 dataHash, uint32 version);
    event PatientLinked(address indexed relationship, address indexed patient);
    event Granted(address indexed relationship, address indexed viewer, uint256 indexed grantId, uint64 expiresAt, uint256[] pointerIds, uint256[] fieldMasks);
    event GrantRevoked(address indexed relationship, address indexed viewer, uint256 indexed grantId);
    event GrantApproved(address indexed relationship, address indexed viewer, uint256 indexed grantId);
    event ConsentRequiredChanged(address indexed relationship, bool required);
    event Terminated(address indexed relationship, address indexed by);

    error NotProviderAccount(address caller);
    error PatientNotRegistered(address patient);
    error SelfRelationship(address patient);
    error RelationshipExists(address relationship);
    error UnknownRelationship(address relationship);
    error NotProvider(address caller);
    error NotPatient(address caller);
    error NotParty(address caller);
    error RelationshipTerminated();
    error AlreadyLinked();
    error EmptyQuery();
    error BadFieldCount(uint256 fieldCount);
    error ZeroDataHash();
    error EmptyBounty();
    error UnknownPointer(uint256 pointerId);
    error BadFieldMask(uint256 pointerId, uint256 fieldMask);
    error DuplicatePointer(uint256 pointerId);
    error LengthMismatch(uint256 pointerIds, uint256 fieldMasks);
    error EmptyGrant();
    error InvalidViewer(address viewer);
    error ExpiryInPast(uint64 expiresAt);
    error NoActiveGrant(address viewer);
    error StaleGrant(address viewer, uint256 grantId);
    error ConsentNotRequired();

    function _rel(address r) private view returns (Rel storage rel) {
        rel = _rels[r];
        if (rel.provider == address(0)) revert UnknownRelationship(r);
    }

    function _provider(address r) private view returns (Rel storage rel) {
        rel = _rel(r);
        if (msg.sender != rel.provider) revert NotProvider(msg.sender);
        if (rel.terminated) revert RelationshipTerminated();
    }

    function _patientOf(Rel storage rel) private view returns (address) {
        return INextSummary(rel.patientSummary).owner();
    }

    function create(address patient_, string calldata endpoint_, bytes32 salt) external returns (address relationship) {
        INextRegistrar registrar = INextRegistrar(NextSystem.REGISTRAR);
        if (!registrar.isProviderAccount(msg.sender)) revert NotProviderAccount(msg.sender);
        if (patient_ == msg.sender) revert SelfRelationship(patient_);
        address summary = registrar.summaryOf(patient_);
        if (summary == address(0)) revert PatientNotRegistered(patient_);
        relationship = relationshipId(msg.sender, patient_, salt);
        Rel storage rel = _rels[relationship];
        if (rel.provider != address(0)) revert RelationshipExists(relationship);
        rel.provider = msg.sender;
        rel.createdAt = uint32(block.timestamp);
        rel.patientSummary = summary;
        rel.endpoint = endpoint_;
        emit RelationshipCreated(patient_, msg.sender, relationship);
    }

    function relationshipId(address provider_, address patient_, bytes32 salt) public pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(provider_, patient_, salt)))));
    }

    function addPointer(address r, string calldata query, uint8 fieldCount, bytes32 dataHash, string calldata bountyQuery) external returns (uint256 id) {
        Rel storage rel = _provider(r);
        if (bytes(query).length == 0) revert EmptyQuery();
        if (fieldCount == 0) revert BadFieldCount(fieldCount);
        if (dataHash == bytes32(0)) revert ZeroDataHash();
        if (bytes(bountyQuery).length == 0) revert EmptyBounty();
        id = rel.pointerCount;
        rel.pointerCount = uint32(id + 1);
        _pointers[r][id] = Pointer(dataHash, bytes20(keccak256(bytes(query))), fieldCount, 1, uint32(block.number), uint32(block.number));
        emit PointerAdded(r, id, query, fieldCount, dataHash);
        _bounty(r, id, bountyQuery);
        if (rel.linked) IRecordSummary(rel.patientSummary).relationshipUpdated(r, msg.sender);
    }

    function updatePointer(address r, uint256 id, bytes32 dataHash, string calldata bountyQuery) external {
        Rel storage rel = _provider(r);
        if (id >= rel.pointerCount) revert UnknownPointer(id);
        if (dataHash == bytes32(0)) revert ZeroDataHash();
        if (bytes(bountyQuery).length == 0) revert EmptyBounty();
        Pointer storage p = _pointers[r][id];
        p.dataHash = dataHash;
        p.updatedBlock = uint32(block.number);
        uint24 v = p.version + 1;
        p.version = v;
        emit PointerUpdated(r, id, dataHash, v);
        _bounty(r, id, bountyQuery);
        if (rel.linked) IRecordSummary(rel.patientSummary).relationshipUpdated(r, msg.sender);
    }

    function _bounty(address r, uint256 pointerId, string calldata query) private {
        uint256 index = bountyCount[block.coinbase]++;
        emit BountyCreated(block.coinbase, r, pointerId, index, query);
    }

    function linkPatient(address r) external {
        Rel storage rel = _provider(r);
        if (rel.linked) revert AlreadyLinked();
        rel.linked = true;
        IRecordSummary(rel.patientSummary).addRelationship(r, Role.Patient, true, msg.sender);
        emit PatientLinked(r, _patientOf(rel));
    }

    function setEndpoint(address r, string calldata endpoint_) external {
        _provider(r).endpoint = endpoint_;
        emit EndpointChanged(r, endpoint_);
    }

    function setConsentRequired(address r, bool required) external {
        _provider(r).consentRequired = required;
        emit ConsentRequiredChanged(r, required);
    }

    function approveGrant(address r, address viewer, uint256 grantId) external {
        Rel storage rel = _provider(r);
        if (!rel.consentRequired) revert ConsentNotRequired();
        Grant storage g = _grants[r][viewer];
        if (!g.active) revert NoActiveGrant(viewer);
        if (g.id != grantId) revert StaleGrant(viewer, grantId);
        g.providerApproved = true;
        emit GrantApproved(r, viewer, grantId);
    }

    function grant(address r, address viewer, uint256[] calldata pointerIds, uint256[] calldata fieldMasks, uint64 expiresAt) external returns (uint256 grantId) {
        Rel storage rel = _rel(r);
        if (msg.sender != _patientOf(rel)) revert NotPatient(msg.sender);
        if (rel.terminated) revert RelationshipTerminated();
        if (viewer == address(0) || viewer == rel.provider || viewer == msg.sender) revert InvalidViewer(viewer);
        if (pointerIds.length != fieldMasks.length) revert LengthMismatch(pointerIds.length, fieldMasks.length);
        if (pointerIds.length == 0) revert EmptyGrant();
        if (expiresAt != 0 && expiresAt <= block.timestamp) revert ExpiryInPast(expiresAt);
        grantId = ++rel.grantCount;
        _grantItems(r, rel.pointerCount, grantId, pointerIds, fieldMasks);
        _grants[r][viewer] = Grant(uint64(grantId), uint64(block.timestamp), expiresAt, true, false);
        if (!_everViewer[r][viewer]) {
            _everViewer[r][viewer] = true;
            _viewers[r].push(viewer);
        }
        emit Granted(r, viewer, grantId, expiresAt, pointerIds, fieldMasks);
        address viewerSummary = INextRegistrar(NextSystem.REGISTRAR).summaryOf(viewer);
        if (viewerSummary != address(0)) IRecordSummary(viewerSummary).addRelationship(r, Role.Viewer, false, msg.sender);
    }

    function _grantItems(address r, uint256 n, uint256 grantId, uint256[] calldata pointerIds, uint256[] calldata fieldMasks) private {
        mapping(uint256 => uint256) storage fields = _grantFields[r][grantId];
        for (uint256 i = 0; i < pointerIds.length; i++) {
            uint256 pid = pointerIds[i];
            if (pid >= n) revert UnknownPointer(pid);
            uint256 mask = fieldMasks[i];
            if (mask == 0 || mask >> _pointers[r][pid].fieldCount != 0) revert BadFieldMask(pid, mask);
            if (fields[pid] != 0) revert DuplicatePointer(pid);
            fields[pid] = mask;
        }
        _grantPointers[r][grantId] = pointerIds;
    }

    function revoke(address r, address viewer) external {
        Rel storage rel = _rel(r);
        if (msg.sender != _patientOf(rel)) revert NotPatient(msg.sender);
        Grant storage g = _grants[r][viewer];
        if (!g.active) revert NoActiveGrant(viewer);
        g.active = false;
        emit GrantRevoked(r, viewer, g.id);
    }

    function terminate(address r) external {
        Rel storage rel = _rel(r);
        if (rel.terminated) revert RelationshipTerminated();
        if (msg.sender != rel.provider && msg.sender != _patientOf(rel)) revert NotParty(msg.sender);
        rel.terminated = true;
        terminatedBy[r] = msg.sender;
        emit Terminated(r, msg.sender);
        if (rel.linked) IRecordSummary(rel.patientSummary).relationshipTerminated(r, msg.sender);
    }

    // ---- reads ----

    function isRelationship(address r) external view returns (bool) {
        return _rels[r].provider != address(0);
    }

    function canRead(address r, address reader, uint256 pointerId, uint256 fieldMask) external view returns (bool) {
        Rel storage rel = _rels[r];
        if (rel.provider == address(0) || rel.terminated || pointerId >= rel.pointerCount) return false;
        if (fieldMask == 0 || fieldMask >> _pointers[r][pointerId].fieldCount != 0) return false;
        if (reader == rel.provider || reader == _patientOf(rel)) return true;
        Grant storage g = _grants[r][reader];
        if (!g.active) return false;
        if (g.expiresAt != 0 && block.timestamp >= g.expiresAt) return false;
        if (rel.consentRequired && !g.providerApproved) return false;
        return _grantFields[r][g.id][pointerId] & fieldMask == fieldMask;
    }

    function info(address r) external view returns (address provider_, address patient_, address patientSummary_, string memory endpoint_, bool consentRequired_, bool linked_, bool terminated_, uint64 createdAt_) {
        Rel storage rel = _rel(r);
        return (rel.provider, _patientOf(rel), rel.patientSummary, rel.endpoint, rel.consentRequired, rel.linked, rel.terminated, rel.createdAt);
    }

    function provider(address r) external view returns (address) {
        return _rel(r).provider;
    }

    function patient(address r) external view returns (address) {
        return _patientOf(_rel(r));
    }

    function patientSummary(address r) external view returns (address) {
        return _rel(r).patientSummary;
    }

    function endpoint(address r) external view returns (string memory) {
        return _rel(r).endpoint;
    }

    function pointerCount(address r) external view returns (uint256) {
        return _rels[r].pointerCount;
    }

    function pointer(address r, uint256 id) external view returns (Pointer memory) {
        if (id >= _rels[r].pointerCount) revert UnknownPointer(id);
        return _pointers[r][id];
    }

    function grantOf(address r, address viewer) external view returns (Grant memory g, uint256[] memory pointerIds, uint256[] memory fieldMasks) {
        g = _grants[r][viewer];
        pointerIds = _grantPointers[r][g.id];
        fieldMasks = new uint256[](pointerIds.length);
        for (uint256 i = 0; i < pointerIds.length; i++) fieldMasks[i] = _grantFields[r][g.id][pointerIds[i]];
    }

    function viewers(address r, uint256 offset, uint256 limit) external view returns (address[] memory) {
        return Paging.slice(_viewers[r], offset, limit);
    }
}
