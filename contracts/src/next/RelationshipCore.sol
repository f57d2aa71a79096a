// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {Paging, Role, IRegistrar} from "../MedRecSystem.sol";
import {NextSystem, ICloneFactory, ICloneSummary, INextSummary} from "./NextSystem.sol";

/// @title Prototype: the PPR logic shared by design A (clones carrying their fixed fields in
/// code, CloneRelationship) and design A0 (plain clones with an initialiser, InitRelationship),
/// which differ only in where the parties and the first endpoint are kept.
/// @notice Storage holds only what changes: one header slot, the endpoint (an override for A),
/// two slots per pointer (the query text is in the PointerAdded event; the slot keeps its 160-bit
/// hash), grants as in the live PPR. No SELFDESTRUCT, no DELEGATECALL, no CALLCODE: the
/// implementation cannot be destroyed under its clones, and runs no foreign code.
abstract contract RelationshipCore {
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
        return NextSystem.RELATIONSHIPS;
    }

    function provider() public view virtual returns (address);

    function patientSummary() public view virtual returns (address);

    /// The endpoint when the provider has not changed it.
    function _firstEndpoint() internal view virtual returns (string memory);

    function patient() public view returns (address) {
        return INextSummary(patientSummary()).owner();
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
        ICloneFactory(NextSystem.RELATIONSHIPS).recordBounty(id, bountyQuery);
        if (linked) ICloneSummary(patientSummary()).relationshipUpdated(msg.sender);
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
        ICloneFactory(NextSystem.RELATIONSHIPS).recordBounty(id, bountyQuery);
        if (linked) ICloneSummary(patientSummary()).relationshipUpdated(msg.sender);
    }

    function linkPatient() external onlyProvider live {
        if (linked) revert AlreadyLinked();
        linked = true;
        ICloneSummary(patientSummary()).addRelationship(Role.Patient, msg.sender);
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
        address viewerSummary = IRegistrar(NextSystem.REGISTRAR).summaryOf(viewer);
        if (viewerSummary != address(0)) ICloneSummary(viewerSummary).addRelationship(Role.Viewer, msg.sender);
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
        if (linked) ICloneSummary(patientSummary()).relationshipTerminated(msg.sender);
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
