// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {MedRecSystem, Paging, IAuthoritySet} from "./MedRecSystem.sol";
import {Summary} from "./Summary.sol";

/// @title Registrar: MedRec's global directory.
/// @notice Maps an identity string (a name, or the hash of an existing ID such as a national
/// or insurance number; never personal health information) to a participant's address and
/// the Summary contract it creates for that participant, and lists providers with their
/// gatekeeper endpoints and encryption keys.
/// Policy: only current authorities (certified institutions) register identities and verify
/// provider delegates; a binding changes only by its participant or an authority; every change
/// emits an event. Predeployed as runtime code: it has no constructor state and no owner.
contract Registrar {
    struct Participant {
        string identity;
        address summary;
        bool registered;
    }

    struct Provider {
        string name;
        /// Gatekeeper HTTP URL; either this or `multiaddr` may be empty.
        string url;
        /// Gatekeeper libp2p multiaddr, including the peer id.
        string multiaddr;
        bytes encryptionKey;
        /// SHA-256 of the DER of the gatekeeper's TLS certificate, for requesters to pin the HTTPS
        /// connection to `url` on; zero when the entry names no certificate (`url` plain, or
        /// served by a proxy whose certificate a CA vouches for).
        bytes32 tlsFingerprint;
        bool listed;
    }

    mapping(bytes32 => address) private _byIdentity;
    mapping(address => Participant) private _participants;
    address[] private _participantList;
    mapping(address => uint256) private _listIndexPlusOne;
    mapping(address => Provider) private _providers;
    address[] private _providerList;
    mapping(address => bool) private _delegates;
    mapping(address => uint64) private _anchoredSeq;

    event IdentityRegistered(bytes32 indexed identityHash, address indexed participant, string identity, address summary, address registeredBy);
    event ParticipantRebound(bytes32 indexed identityHash, address indexed oldParticipant, address indexed newParticipant, address by);
    event ProviderUpdated(address indexed provider, string name, string url, string multiaddr, bytes encryptionKey, bytes32 tlsFingerprint);
    event DelegateVerified(address indexed delegate, address by);
    event DelegateRevoked(address indexed delegate, address by);
    /// A provider's gatekeeper audit log reached entry `seq` with hash `head` (hash-chained off
    /// chain); anchoring makes later rewriting of the log's earlier entries detectable.
    event AuditAnchored(address indexed provider, uint64 seq, bytes32 head);

    error NotAuthority(address caller);
    error EmptyIdentity();
    error IdentityTaken(string identity);
    error AlreadyRegistered(address participant);
    error UnknownIdentity(string identity);
    error NotParticipantOrAuthority(address caller);
    error ZeroAddress();
    error NoEndpoint();
    error AlreadyDelegate(address delegate);
    error NotDelegate(address delegate);
    error NotProviderAccount(address caller);
    error StaleAnchor(uint64 seq, uint64 last);

    modifier onlyAuthority() {
        if (!_isAuthority(msg.sender)) revert NotAuthority(msg.sender);
        _;
    }

    /// @notice Binds `identity` to `participant` and creates the participant's Summary.
    function register(string calldata identity, address participant) external onlyAuthority returns (address summary) {
        if (bytes(identity).length == 0) revert EmptyIdentity();
        if (participant == address(0)) revert ZeroAddress();
        bytes32 id = keccak256(bytes(identity));
        if (_byIdentity[id] != address(0)) revert IdentityTaken(identity);
        if (_participants[participant].registered) revert AlreadyRegistered(participant);
        summary = address(new Summary(participant));
        _byIdentity[id] = participant;
        _participants[participant] = Participant(identity, summary, true);
        _participantList.push(participant);
        _listIndexPlusOne[participant] = _participantList.length;
        emit IdentityRegistered(id, participant, identity, summary, msg.sender);
    }

    /// @notice Moves an identity, and its Summary, to a new address (lost key, new device).
    /// Only the current participant or an authority may do this.
    function rebind(string calldata identity, address newParticipant) external {
        bytes32 id = keccak256(bytes(identity));
        address old = _byIdentity[id];
        if (old == address(0)) revert UnknownIdentity(identity);
        if (msg.sender != old && !_isAuthority(msg.sender)) revert NotParticipantOrAuthority(msg.sender);
        if (newParticipant == address(0)) revert ZeroAddress();
        if (_participants[newParticipant].registered) revert AlreadyRegistered(newParticipant);
        address summary = _participants[old].summary;
        _participants[newParticipant] = Participant(identity, summary, true);
        delete _participants[old];
        _byIdentity[id] = newParticipant;
        uint256 slot = _listIndexPlusOne[old];
        _participantList[slot - 1] = newParticipant;
        _listIndexPlusOne[newParticipant] = slot;
        delete _listIndexPlusOne[old];
        Summary(summary).transferOwner(newParticipant);
        emit ParticipantRebound(id, old, newParticipant, msg.sender);
    }

    /// @notice An authority publishes or updates its own provider directory entry.
    function setProvider(string calldata name, string calldata url, string calldata multiaddr, bytes calldata encryptionKey, bytes32 tlsFingerprint) external onlyAuthority {
        if (bytes(url).length == 0 && bytes(multiaddr).length == 0) revert NoEndpoint();
        Provider storage p = _providers[msg.sender];
        if (!p.listed) {
            p.listed = true;
            _providerList.push(msg.sender);
        }
        p.name = name;
        p.url = url;
        p.multiaddr = multiaddr;
        p.encryptionKey = encryptionKey;
        p.tlsFingerprint = tlsFingerprint;
        emit ProviderUpdated(msg.sender, name, url, multiaddr, encryptionKey, tlsFingerprint);
    }

    /// @notice Verifies a per-relationship delegate account so it may act as a provider. Any
    /// authority may do it: MedRec 2.0 has a random other provider verify a provider's fresh
    /// delegate, so that the chain does not link the delegate to its provider.
    function verifyDelegate(address delegate) external onlyAuthority {
        if (delegate == address(0)) revert ZeroAddress();
        if (_delegates[delegate]) revert AlreadyDelegate(delegate);
        _delegates[delegate] = true;
        emit DelegateVerified(delegate, msg.sender);
    }

    function revokeDelegate(address delegate) external onlyAuthority {
        if (!_delegates[delegate]) revert NotDelegate(delegate);
        delete _delegates[delegate];
        emit DelegateRevoked(delegate, msg.sender);
    }

    /// @notice Anchors the head of the caller's gatekeeper audit log. Sequence numbers only grow,
    /// so an anchor cannot be replaced by an older (or rewritten) log state.
    function anchorAudit(uint64 seq, bytes32 head) external {
        if (!_delegates[msg.sender] && !_isAuthority(msg.sender)) revert NotProviderAccount(msg.sender);
        uint64 last = _anchoredSeq[msg.sender];
        if (seq <= last) revert StaleAnchor(seq, last);
        _anchoredSeq[msg.sender] = seq;
        emit AuditAnchored(msg.sender, seq, head);
    }

    /// @notice The sequence number of the provider's latest audit anchor (0: none).
    function anchoredSeq(address provider_) external view returns (uint64) {
        return _anchoredSeq[provider_];
    }

    /// @notice Whether `who` may act as a provider: a current authority or a verified delegate.
    function isProviderAccount(address who) external view returns (bool) {
        return _delegates[who] || _isAuthority(who);
    }

    function isDelegate(address who) external view returns (bool) {
        return _delegates[who];
    }

    function resolve(string calldata identity) external view returns (address participant, address summary) {
        participant = _byIdentity[keccak256(bytes(identity))];
        summary = _participants[participant].summary;
    }

    function identityOf(address participant) external view returns (string memory) {
        return _participants[participant].identity;
    }

    function summaryOf(address participant) external view returns (address) {
        return _participants[participant].summary;
    }

    /// @notice A directory entry; `authority` tells whether its owner is still an authority.
    function provider(address who) external view returns (Provider memory entry, bool authority) {
        return (_providers[who], _isAuthority(who));
    }

    function participantCount() external view returns (uint256) {
        return _participantList.length;
    }

    function providerCount() external view returns (uint256) {
        return _providerList.length;
    }

    function participants(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return Paging.slice(_participantList, offset, limit);
    }

    function providers(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return Paging.slice(_providerList, offset, limit);
    }

    function authorities() external pure returns (address) {
        return MedRecSystem.AUTHORITY_SET;
    }

    function _isAuthority(address who) private view returns (bool) {
        return IAuthoritySet(MedRecSystem.AUTHORITY_SET).isAuthority(who);
    }
}
