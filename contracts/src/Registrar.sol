// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {MedRecSystem, CloneArgs, Paging, IAuthoritySet} from "./MedRecSystem.sol";

interface ISummaryOwner {
    function transferOwner(address newOwner) external;
    function identity() external view returns (string memory);
}

/// @title Registrar: MedRec's global directory.
/// @notice Maps an identity string (a name, or the hash of an existing ID such as a national
/// or insurance number; never personal health information) to a participant's address and
/// the Summary contract it creates for that participant, and lists providers with their
/// gatekeeper endpoints and encryption keys.
/// A Summary is an EIP-1167 clone of the Summary implementation whose code holds the owner
/// and the identity; a participant costs two slots here (identity hash -> participant,
/// participant -> Summary), and the participant list is the IdentityRegistered and
/// ParticipantRebound events.
/// Policy: only current authorities (certified institutions) register identities and verify
/// provider delegates; a binding changes only by its participant or an authority; every change
/// emits an event. Predeployed as runtime code: it has no constructor state and no owner.
contract Registrar {
    struct Provider {
        string name;
        string url;
        string multiaddr;
        bytes encryptionKey;
        /// SHA-256 of the DER of the gatekeeper's TLS certificate, for requesters to pin the HTTPS
        /// connection to `url` on; zero when the entry names no certificate (`url` plain, or
        /// served by a proxy whose certificate a CA vouches for).
        bytes32 tlsFingerprint;
        bool listed;
    }

    mapping(bytes32 => address) private _byIdentity;
    mapping(address => address) private _summaries;
    mapping(address => Provider) private _providers;
    address[] private _providerList;
    mapping(address => bool) private _delegates;
    mapping(address => uint64) private _anchoredSeq;

    event IdentityRegistered(bytes32 indexed identityHash, address indexed participant, string identity, address summary, address registeredBy);
    event ParticipantRebound(bytes32 indexed identityHash, address indexed oldParticipant, address indexed newParticipant, address by);
    event ProviderUpdated(address indexed provider, string name, string url, string multiaddr, bytes encryptionKey, bytes32 tlsFingerprint);
    event DelegateVerified(address indexed delegate, address by);
    event DelegateRevoked(address indexed delegate, address by);
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

    function register(string calldata identity, address participant) external onlyAuthority returns (address summary) {
        if (bytes(identity).length == 0) revert EmptyIdentity();
        if (participant == address(0)) revert ZeroAddress();
        bytes32 id = keccak256(bytes(identity));
        if (_byIdentity[id] != address(0)) revert IdentityTaken(identity);
        if (_summaries[participant] != address(0)) revert AlreadyRegistered(participant);
        // the identity is unique, so the arguments (the salt's preimage) are too; the code fixes owner and identity
        summary = CloneArgs.create(MedRecSystem.SUMMARY_IMPLEMENTATION, abi.encodePacked(participant, identity));
        _byIdentity[id] = participant;
        _summaries[participant] = summary;
        emit IdentityRegistered(id, participant, identity, summary, msg.sender);
    }

    function rebind(string calldata identity, address newParticipant) external {
        bytes32 id = keccak256(bytes(identity));
        address old = _byIdentity[id];
        if (old == address(0)) revert UnknownIdentity(identity);
        if (msg.sender != old && !_isAuthority(msg.sender)) revert NotParticipantOrAuthority(msg.sender);
        if (newParticipant == address(0)) revert ZeroAddress();
        if (_summaries[newParticipant] != address(0)) revert AlreadyRegistered(newParticipant);
        address summary = _summaries[old];
        _summaries[newParticipant] = summary;
        delete _summaries[old];
        _byIdentity[id] = newParticipant;
        ISummaryOwner(summary).transferOwner(newParticipant);
        emit ParticipantRebound(id, old, newParticipant, msg.sender);
    }

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

    function anchorAudit(uint64 seq, bytes32 head) external {
        if (!_delegates[msg.sender] && !_isAuthority(msg.sender)) revert NotProviderAccount(msg.sender);
        uint64 last = _anchoredSeq[msg.sender];
        if (seq <= last) revert StaleAnchor(seq, last);
        _anchoredSeq[msg.sender] = seq;
        emit AuditAnchored(msg.sender, seq, head);
    }

    function anchoredSeq(address provider_) external view returns (uint64) {
        return _anchoredSeq[provider_];
    }

    function isProviderAccount(address who) external view returns (bool) {
        return _delegates[who] || _isAuthority(who);
    }

    function isDelegate(address who) external view returns (bool) {
        return _delegates[who];
    }

    function resolve(string calldata identity) external view returns (address participant, address summary) {
        participant = _byIdentity[keccak256(bytes(identity))];
        summary = _summaries[participant];
    }

    /// @notice Read from the participant's Summary code (fixed at registration; it moves with a rebind).
    function identityOf(address participant) external view returns (string memory) {
        address s = _summaries[participant];
        return s == address(0) ? "" : ISummaryOwner(s).identity();
    }

    function summaryOf(address participant) external view returns (address) {
        return _summaries[participant];
    }

    function provider(address who) external view returns (Provider memory entry, bool authority) {
        return (_providers[who], _isAuthority(who));
    }

    function providerCount() external view returns (uint256) {
        return _providerList.length;
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
