// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {MedRecSystem, CloneArgs, Paging, Role, IRegistrar, ISummary, IRelationships} from "./MedRecSystem.sol";

/// @title Patient-Provider Relationship (PPR): one provider stewarding one patient's records.
/// @notice Holds pointers to records that stay in the provider's database: a structured query
/// description (record types and fields, e.g. a FHIR-style search; never SQL), the hash of the
/// data subset it returns, and the blocks that added and last updated it. The patient grants
/// viewers a subset of pointers and fields with an optional expiry; the gatekeeper asks
/// `canRead`. Every provider update carries a bounty query owned by the author of the block
/// that includes it.
/// This contract is the implementation at MedRecSystem.PPR_IMPLEMENTATION; every relationship
/// is an EIP-1167 clone of it made by the Relationships factory with CREATE2, whose code carries
/// [provider (20)][patient's Summary (20)][the provider's salt (32)][endpoint at creation]
/// after the 45-byte proxy. Nothing is initialised: the parties are in the clone's code, fixed
/// by CREATE2, and no function writes them, so nobody (the factory included) can re-initialise
/// a relationship. The patient is whoever owns the patient's Summary, so a rebound identity
/// keeps its relationships. Termination by either side ends all access and keeps the history.
/// No SELFDESTRUCT, DELEGATECALL or CALLCODE: the implementation cannot be destroyed under its
/// clones and runs no foreign code.
/// Storage holds only what changes: one header slot, the endpoint once changed, two slots per
/// pointer (the query text is in the PointerAdded event; the slot keeps its 160-bit hash and the
/// block that added it, so a client reads the text from that one block's logs and checks it).
contract PatientProviderRelationship {
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

    // slot 0: the header, written by the first pointer or link (whichever comes first)
    uint32 private _pointerCount;
    uint32 private _grantCount;
    bool public consentRequired;
    bool public linked;
    bool public terminated;
    address public terminatedBy;
    string internal _endpoint;
    mapping(uint256 => Pointer) private _pointers;
    mapping(address => Grant) private _grants;
    mapping(uint256 => uint256[]) private _grantPointers;
    mapping(uint256 => mapping(uint256 => uint256)) private _grantFields;
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

    error NotClone();
    error NotProvider(address caller);
    error NotPatient(address caller);
    error NotParty(address caller);
    error RelationshipTerminated();
    error AlreadyLinked();
    error EmptyQuery();
    error EmptyEndpoint();
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

    modifier onlyProvider() {
        if (msg.sender != provider()) revert NotProvider(msg.sender);
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

    function factory() external pure returns (address) {
        return MedRecSystem.RELATIONSHIPS;
    }

    /// @notice Fixed in the clone's code. The implementation itself has no parties.
    function provider() public view returns (address) {
        if (address(this) == MedRecSystem.PPR_IMPLEMENTATION) revert NotClone();
        return CloneArgs.argAddress(0);
    }

    /// @notice The patient's Summary, fixed in the clone's code.
    function patientSummary() public view returns (address) {
        if (address(this) == MedRecSystem.PPR_IMPLEMENTATION) revert NotClone();
        return CloneArgs.argAddress(20);
    }

    /// The endpoint at creation: the code's arguments after provider, Summary and salt.
    function _firstEndpoint() internal view returns (string memory) {
        return string(CloneArgs.argTail(72));
    }

    /// @notice The patient: the current owner of the patient's Summary.
    function patient() public view returns (address) {
        return ISummary(patientSummary()).owner();
    }

    /// @notice The endpoint set at creation (in code) unless the provider changed it since.
    function endpoint() external view returns (string memory) {
        string memory e = _endpoint;
        return bytes(e).length != 0 ? e : _firstEndpoint();
    }

    // ---- provider side ----

    function setEndpoint(string calldata endpoint_) external onlyProvider live {
        if (bytes(endpoint_).length == 0) revert EmptyEndpoint();
        _endpoint = endpoint_;
        emit EndpointChanged(endpoint_);
    }

    function addPointer(string calldata query, uint8 fieldCount, bytes32 dataHash, string calldata bountyQuery) external onlyProvider live returns (uint256 id) {
        if (bytes(query).length == 0) revert EmptyQuery();
        if (fieldCount == 0) revert BadFieldCount(fieldCount);
        if (dataHash == bytes32(0)) revert ZeroDataHash();
        if (bytes(bountyQuery).length == 0) revert EmptyBounty();
        id = _pointerCount;
        _pointerCount = uint32(id + 1);
        _pointers[id] = Pointer(dataHash, bytes20(keccak256(bytes(query))), fieldCount, 1, uint32(block.number), uint32(block.number));
        emit PointerAdded(id, query, fieldCount, dataHash);
        IRelationships(MedRecSystem.RELATIONSHIPS).recordBounty(id, bountyQuery);
        if (linked) ISummary(patientSummary()).relationshipUpdated(msg.sender);
    }

    function updatePointer(uint256 id, bytes32 dataHash, string calldata bountyQuery) external onlyProvider live {
        if (id >= _pointerCount) revert UnknownPointer(id);
        if (dataHash == bytes32(0)) revert ZeroDataHash();
        if (bytes(bountyQuery).length == 0) revert EmptyBounty();
        Pointer storage p = _pointers[id];
        p.dataHash = dataHash;
        p.updatedBlock = uint32(block.number);
        uint24 v = p.version + 1;
        p.version = v;
        emit PointerUpdated(id, dataHash, v);
        IRelationships(MedRecSystem.RELATIONSHIPS).recordBounty(id, bountyQuery);
        if (linked) ISummary(patientSummary()).relationshipUpdated(msg.sender);
    }

    function linkPatient() external onlyProvider live {
        if (linked) revert AlreadyLinked();
        linked = true;
        ISummary(patientSummary()).addRelationship(Role.Patient, msg.sender);
        emit PatientLinked(patient());
    }

    function setConsentRequired(bool required) external onlyProvider live {
        consentRequired = required;
        emit ConsentRequiredChanged(required);
    }

    function approveGrant(address viewer, uint256 grantId) external onlyProvider live {
        if (!consentRequired) revert ConsentNotRequired();
        Grant storage g = _grants[viewer];
        if (!g.active) revert NoActiveGrant(viewer);
        if (g.id != grantId) revert StaleGrant(viewer, grantId);
        g.providerApproved = true;
        emit GrantApproved(viewer, grantId);
    }

    // ---- patient side ----

    function grant(address viewer, uint256[] calldata pointerIds, uint256[] calldata fieldMasks, uint64 expiresAt) external onlyPatient live returns (uint256 grantId) {
        if (viewer == address(0) || viewer == provider() || viewer == msg.sender) revert InvalidViewer(viewer);
        if (pointerIds.length != fieldMasks.length) revert LengthMismatch(pointerIds.length, fieldMasks.length);
        if (pointerIds.length == 0) revert EmptyGrant();
        if (expiresAt != 0 && expiresAt <= block.timestamp) revert ExpiryInPast(expiresAt);
        grantId = ++_grantCount;
        uint256 n = _pointerCount;
        for (uint256 i = 0; i < pointerIds.length; i++) {
            uint256 pid = pointerIds[i];
            if (pid >= n) revert UnknownPointer(pid);
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

    function revoke(address viewer) external onlyPatient {
        Grant storage g = _grants[viewer];
        if (!g.active) revert NoActiveGrant(viewer);
        g.active = false;
        emit GrantRevoked(viewer, g.id);
    }

    // ---- either side ----

    function terminate() external live {
        if (msg.sender != provider() && msg.sender != patient()) revert NotParty(msg.sender);
        terminated = true;
        terminatedBy = msg.sender;
        emit Terminated(msg.sender);
        if (linked) ISummary(patientSummary()).relationshipTerminated(msg.sender);
    }

    // ---- reads ----

    function canRead(address reader, uint256 pointerId, uint256 fieldMask) external view returns (bool) {
        if (terminated || pointerId >= _pointerCount) return false;
        if (fieldMask == 0 || fieldMask >> _pointers[pointerId].fieldCount != 0) return false;
        if (reader == provider() || reader == patient()) return true;
        Grant storage g = _grants[reader];
        if (!g.active) return false;
        if (g.expiresAt != 0 && block.timestamp >= g.expiresAt) return false;
        if (consentRequired && !g.providerApproved) return false;
        return _grantFields[g.id][pointerId] & fieldMask == fieldMask;
    }

    function pointerCount() external view returns (uint256) {
        return _pointerCount;
    }

    /// @notice The query text is the PointerAdded event's (or the provider's gatekeeper's):
    /// a client checks bytes20(keccak256(query)) == queryHash.
    function pointer(uint256 id) external view returns (Pointer memory) {
        if (id >= _pointerCount) revert UnknownPointer(id);
        return _pointers[id];
    }

    function pointers(uint256 offset, uint256 limit) external view returns (Pointer[] memory out) {
        (uint256 start, uint256 end) = Paging.bounds(_pointerCount, offset, limit);
        out = new Pointer[](end - start);
        for (uint256 i = start; i < end; i++) out[i - start] = _pointers[i];
    }

    function grantOf(address viewer) external view returns (Grant memory g, uint256[] memory pointerIds, uint256[] memory fieldMasks) {
        g = _grants[viewer];
        pointerIds = _grantPointers[g.id];
        fieldMasks = new uint256[](pointerIds.length);
        for (uint256 i = 0; i < pointerIds.length; i++) fieldMasks[i] = _grantFields[g.id][pointerIds[i]];
    }

    function viewerCount() external view returns (uint256) {
        return _viewers.length;
    }

    function viewers(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return Paging.slice(_viewers, offset, limit);
    }
}
