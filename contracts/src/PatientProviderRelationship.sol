// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {MedRecSystem, Paging, Role, IRegistrar, ISummary, IRelationships} from "./MedRecSystem.sol";

/// @title Patient-Provider Relationship (PPR): one provider stewarding one patient's records.
/// @notice Holds pointers to records that stay in the provider's database: a structured query
/// description (record types and fields, e.g. a FHIR-style search; never SQL), the hash of the
/// data subset it returns, and timestamps. The patient grants viewers a subset of pointers and
/// fields with an optional expiry; the gatekeeper asks `canRead`. Every provider update carries
/// a bounty query owned by the author of the block that includes it.
/// Created only by the Relationships factory. The provider (possibly a per-relationship delegate
/// address) is fixed at creation; the patient is whoever owns the patient's Summary, so a
/// rebound identity keeps its relationships. Termination by either side ends all access and
/// keeps the history; there is no selfdestruct.
contract PatientProviderRelationship {
    struct Pointer {
        string query;
        uint8 fieldCount;
        bytes32 dataHash;
        uint64 createdAt;
        uint64 updatedAt;
        uint32 version;
    }

    struct Grant {
        uint64 id;
        uint64 grantedAt;
        /// 0 means no expiry; otherwise access ends at this block timestamp.
        uint64 expiresAt;
        bool active;
        bool providerApproved;
    }

    address public immutable factory;
    address public immutable provider;
    address public immutable patientSummary;
    uint64 public immutable createdAt;

    string public endpoint;
    /// When set by the provider, a grant gives access only once the provider approved it too.
    bool public consentRequired;
    bool public linked;
    bool public terminated;
    address public terminatedBy;

    Pointer[] private _pointers;
    mapping(address => Grant) private _grants;
    mapping(uint256 => uint256[]) private _grantPointers;
    mapping(uint256 => mapping(uint256 => uint256)) private _grantFields;
    uint64 private _grantCount;
    address[] private _viewers;
    mapping(address => bool) private _everViewer;

    event EndpointChanged(string endpoint);
    event PointerAdded(uint256 indexed pointerId, string query, uint8 fieldCount, bytes32 dataHash);
    event PointerUpdated(uint256 indexed pointerId, bytes32 dataHash, uint32 version);
    event PatientLinked(address indexed patient);
    event Granted(address indexed viewer, uint256 indexed grantId, uint64 expiresAt, uint256[] pointerIds, uint256[] fieldMasks);
    event GrantRevoked(address indexed viewer, uint256 indexed grantId);
    event GrantApproved(address indexed viewer, uint256 indexed grantId);
    event ConsentRequiredChanged(bool required);
    event Terminated(address indexed by);

    error NotFactory(address caller);
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

    constructor(address patientSummary_, address provider_, string memory endpoint_) {
        if (msg.sender != MedRecSystem.RELATIONSHIPS) revert NotFactory(msg.sender);
        factory = msg.sender;
        patientSummary = patientSummary_;
        provider = provider_;
        createdAt = uint64(block.timestamp);
        endpoint = endpoint_;
    }

    modifier onlyProvider() {
        if (msg.sender != provider) revert NotProvider(msg.sender);
        _;
    }

    modifier onlyPatient() {
        if (msg.sender != patient()) revert NotPatient(msg.sender);
        _;
    }

    modifier live() {
        if (terminated) revert RelationshipTerminated();
        _;
    }

    /// @notice The patient: the current owner of the patient's Summary.
    function patient() public view returns (address) {
        return ISummary(patientSummary).owner();
    }

    // ---- provider side ----

    function setEndpoint(string calldata endpoint_) external onlyProvider live {
        endpoint = endpoint_;
        emit EndpointChanged(endpoint_);
    }

    /// @param query structured description of the records (e.g. a FHIR-style search with a
    /// field list); the gatekeeper interprets it and never runs it as given.
    /// @param fieldCount number of fields the query lists; grants select fields by bit index.
    /// @param bountyQuery aggregate description owned by the author of the including block.
    function addPointer(string calldata query, uint8 fieldCount, bytes32 dataHash, string calldata bountyQuery) external onlyProvider live returns (uint256 id) {
        if (bytes(query).length == 0) revert EmptyQuery();
        if (fieldCount == 0) revert BadFieldCount(fieldCount);
        if (dataHash == bytes32(0)) revert ZeroDataHash();
        if (bytes(bountyQuery).length == 0) revert EmptyBounty();
        id = _pointers.length;
        _pointers.push(Pointer(query, fieldCount, dataHash, uint64(block.timestamp), uint64(block.timestamp), 1));
        emit PointerAdded(id, query, fieldCount, dataHash);
        IRelationships(factory).recordBounty(id, bountyQuery);
        if (linked) ISummary(patientSummary).relationshipUpdated(msg.sender);
    }

    /// @notice New data behind an existing pointer. The query itself never changes, so no
    /// existing grant can come to cover more than the patient saw when granting.
    function updatePointer(uint256 id, bytes32 dataHash, string calldata bountyQuery) external onlyProvider live {
        if (id >= _pointers.length) revert UnknownPointer(id);
        if (dataHash == bytes32(0)) revert ZeroDataHash();
        if (bytes(bountyQuery).length == 0) revert EmptyBounty();
        Pointer storage p = _pointers[id];
        p.dataHash = dataHash;
        p.updatedAt = uint64(block.timestamp);
        p.version += 1;
        emit PointerUpdated(id, dataHash, p.version);
        IRelationships(factory).recordBounty(id, bountyQuery);
        if (linked) ISummary(patientSummary).relationshipUpdated(msg.sender);
    }

    /// @notice Links this relationship into the patient's Summary, awaiting the patient's approval.
    function linkPatient() external onlyProvider live {
        if (linked) revert AlreadyLinked();
        linked = true;
        ISummary(patientSummary).addRelationship(Role.Patient, msg.sender);
        emit PatientLinked(patient());
    }

    function setConsentRequired(bool required) external onlyProvider live {
        consentRequired = required;
        emit ConsentRequiredChanged(required);
    }

    /// @notice The provider's half of a two-party grant; names the grant id so a later,
    /// wider grant to the same viewer needs its own approval.
    function approveGrant(address viewer, uint256 grantId) external onlyProvider live {
        if (!consentRequired) revert ConsentNotRequired();
        Grant storage g = _grants[viewer];
        if (!g.active) revert NoActiveGrant(viewer);
        if (g.id != grantId) revert StaleGrant(viewer, grantId);
        g.providerApproved = true;
        emit GrantApproved(viewer, grantId);
    }

    // ---- patient side ----

    /// @notice Grants `viewer` the listed pointers, each restricted to the fields in its mask
    /// (bit i = field i of the pointer's query), until `expiresAt` (0: no expiry). Replaces any
    /// earlier grant to the same viewer. Links this relationship into the viewer's Summary if the
    /// viewer has one.
    function grant(address viewer, uint256[] calldata pointerIds, uint256[] calldata fieldMasks, uint64 expiresAt) external onlyPatient live returns (uint256 grantId) {
        if (viewer == address(0) || viewer == provider || viewer == msg.sender) revert InvalidViewer(viewer);
        if (pointerIds.length != fieldMasks.length) revert LengthMismatch(pointerIds.length, fieldMasks.length);
        if (pointerIds.length == 0) revert EmptyGrant();
        if (expiresAt != 0 && expiresAt <= block.timestamp) revert ExpiryInPast(expiresAt);
        grantId = ++_grantCount;
        for (uint256 i = 0; i < pointerIds.length; i++) {
            uint256 pid = pointerIds[i];
            if (pid >= _pointers.length) revert UnknownPointer(pid);
            uint256 mask = fieldMasks[i];
            if (mask == 0 || mask >> _pointers[pid].fieldCount != 0) revert BadFieldMask(pid, mask);
            if (_grantFields[grantId][pid] != 0) revert DuplicatePointer(pid);
            _grantFields[grantId][pid] = mask;
        }
        _grantPointers[grantId] = pointerIds;
        _grants[viewer] = Grant(uint64(grantId), uint64(block.timestamp), expiresAt, true, false);
        if (!_everViewer[viewer]) {
            _everViewer[viewer] = true;
            _viewers.push(viewer);
        }
        emit Granted(viewer, grantId, expiresAt, pointerIds, fieldMasks);
        address viewerSummary = IRegistrar(MedRecSystem.REGISTRAR).summaryOf(viewer);
        if (viewerSummary != address(0)) ISummary(viewerSummary).addRelationship(Role.Viewer, msg.sender);
    }

    /// @notice Ends a viewer's access. Allowed after termination too (it changes nothing then).
    function revoke(address viewer) external onlyPatient {
        Grant storage g = _grants[viewer];
        if (!g.active) revert NoActiveGrant(viewer);
        g.active = false;
        emit GrantRevoked(viewer, g.id);
    }

    // ---- either side ----

    /// @notice Ends the relationship for good: no reads, grants or updates afterwards; the
    /// pointers, grants and events remain as history.
    function terminate() external live {
        if (msg.sender != provider && msg.sender != patient()) revert NotParty(msg.sender);
        terminated = true;
        terminatedBy = msg.sender;
        emit Terminated(msg.sender);
        if (linked) ISummary(patientSummary).relationshipTerminated(msg.sender);
    }

    // ---- reads ----

    /// @notice Whether `reader` may read the fields in `fieldMask` of pointer `pointerId` now:
    /// the patient and the provider may read everything while the relationship lives; a viewer
    /// needs an active, unexpired grant covering every requested field (and the provider's
    /// approval when consent is required).
    function canRead(address reader, uint256 pointerId, uint256 fieldMask) external view returns (bool) {
        if (terminated || pointerId >= _pointers.length) return false;
        if (fieldMask == 0 || fieldMask >> _pointers[pointerId].fieldCount != 0) return false;
        if (reader == provider || reader == patient()) return true;
        Grant storage g = _grants[reader];
        if (!g.active) return false;
        if (g.expiresAt != 0 && block.timestamp >= g.expiresAt) return false;
        if (consentRequired && !g.providerApproved) return false;
        return _grantFields[g.id][pointerId] & fieldMask == fieldMask;
    }

    function pointerCount() external view returns (uint256) {
        return _pointers.length;
    }

    function pointer(uint256 id) external view returns (Pointer memory) {
        if (id >= _pointers.length) revert UnknownPointer(id);
        return _pointers[id];
    }

    function pointers(uint256 offset, uint256 limit) external view returns (Pointer[] memory out) {
        (uint256 start, uint256 end) = Paging.bounds(_pointers.length, offset, limit);
        out = new Pointer[](end - start);
        for (uint256 i = start; i < end; i++) out[i - start] = _pointers[i];
    }

    /// @notice The viewer's latest grant (active or not) with its pointers and field masks.
    function grantOf(address viewer) external view returns (Grant memory g, uint256[] memory pointerIds, uint256[] memory fieldMasks) {
        g = _grants[viewer];
        pointerIds = _grantPointers[g.id];
        fieldMasks = new uint256[](pointerIds.length);
        for (uint256 i = 0; i < pointerIds.length; i++) fieldMasks[i] = _grantFields[g.id][pointerIds[i]];
    }

    function viewerCount() external view returns (uint256) {
        return _viewers.length;
    }

    /// @notice Everyone ever granted access, in grant order (see grantOf for the current state).
    function viewers(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return Paging.slice(_viewers, offset, limit);
    }
}
