// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

interface IAuthoritySet {
    function isAuthority(address who) external view returns (bool);
}

/// @title Registrar: MedRec's global directory.
/// @notice Maps an identity string (a name, or the hash of an existing ID such as a national
/// or insurance number; never personal health information) to a participant's address and
/// its Summary contract, and lists providers with their gatekeeper endpoints.
/// Policy: only current authorities (certified institutions) register identities; a binding
/// changes only by its participant or an authority; every change emits an event.
/// Predeployed as runtime code: it has no constructor state and no owner.
contract Registrar {
    IAuthoritySet public constant AUTHORITIES = IAuthoritySet(0x4D65645265630000000000000000000000000001);

    struct Participant {
        string identity;
        address summary;
        bool registered;
    }

    struct Provider {
        string name;
        string endpoint;
        bytes encryptionKey;
        bool listed;
    }

    mapping(bytes32 => address) private _byIdentity;
    mapping(address => Participant) private _participants;
    address[] private _participantList;
    mapping(address => uint256) private _listIndexPlusOne;
    mapping(address => Provider) private _providers;
    address[] private _providerList;

    event IdentityRegistered(bytes32 indexed identityHash, address indexed participant, string identity, address summary, address registeredBy);
    event ParticipantRebound(bytes32 indexed identityHash, address indexed oldParticipant, address indexed newParticipant, address by);
    event SummaryChanged(address indexed participant, address summary, address by);
    event ProviderUpdated(address indexed provider, string name, string endpoint, bytes encryptionKey);

    error NotAuthority(address caller);
    error EmptyIdentity();
    error IdentityTaken(string identity);
    error AlreadyRegistered(address participant);
    error UnknownIdentity(string identity);
    error NotRegistered(address participant);
    error NotParticipantOrAuthority(address caller);
    error ZeroAddress();

    modifier onlyAuthority() {
        if (!AUTHORITIES.isAuthority(msg.sender)) revert NotAuthority(msg.sender);
        _;
    }

    function register(string calldata identity, address participant, address summary) external onlyAuthority {
        if (bytes(identity).length == 0) revert EmptyIdentity();
        if (participant == address(0)) revert ZeroAddress();
        bytes32 id = keccak256(bytes(identity));
        if (_byIdentity[id] != address(0)) revert IdentityTaken(identity);
        if (_participants[participant].registered) revert AlreadyRegistered(participant);
        _byIdentity[id] = participant;
        _participants[participant] = Participant(identity, summary, true);
        _participantList.push(participant);
        _listIndexPlusOne[participant] = _participantList.length;
        emit IdentityRegistered(id, participant, identity, summary, msg.sender);
    }

    /// @notice Moves an identity to a new address (lost key, new device). Only the current
    /// participant or an authority may do this.
    function rebind(string calldata identity, address newParticipant) external {
        bytes32 id = keccak256(bytes(identity));
        address old = _byIdentity[id];
        if (old == address(0)) revert UnknownIdentity(identity);
        if (msg.sender != old && !AUTHORITIES.isAuthority(msg.sender)) revert NotParticipantOrAuthority(msg.sender);
        if (newParticipant == address(0)) revert ZeroAddress();
        if (_participants[newParticipant].registered) revert AlreadyRegistered(newParticipant);
        _participants[newParticipant] = Participant(identity, _participants[old].summary, true);
        delete _participants[old];
        _byIdentity[id] = newParticipant;
        uint256 slot = _listIndexPlusOne[old];
        _participantList[slot - 1] = newParticipant;
        _listIndexPlusOne[newParticipant] = slot;
        delete _listIndexPlusOne[old];
        emit ParticipantRebound(id, old, newParticipant, msg.sender);
    }

    function setSummary(address participant, address summary) external {
        if (!_participants[participant].registered) revert NotRegistered(participant);
        if (msg.sender != participant && !AUTHORITIES.isAuthority(msg.sender)) revert NotParticipantOrAuthority(msg.sender);
        _participants[participant].summary = summary;
        emit SummaryChanged(participant, summary, msg.sender);
    }

    /// @notice An authority publishes or updates its own provider directory entry.
    function setProvider(string calldata name, string calldata endpoint, bytes calldata encryptionKey) external onlyAuthority {
        Provider storage p = _providers[msg.sender];
        if (!p.listed) {
            p.listed = true;
            _providerList.push(msg.sender);
        }
        p.name = name;
        p.endpoint = endpoint;
        p.encryptionKey = encryptionKey;
        emit ProviderUpdated(msg.sender, name, endpoint, encryptionKey);
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

    function provider(address who) external view returns (string memory name, string memory endpoint, bytes memory encryptionKey, bool listed) {
        Provider storage p = _providers[who];
        return (p.name, p.endpoint, p.encryptionKey, p.listed);
    }

    function participantCount() external view returns (uint256) {
        return _participantList.length;
    }

    function providerCount() external view returns (uint256) {
        return _providerList.length;
    }

    function participants(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return _page(_participantList, offset, limit);
    }

    function providers(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return _page(_providerList, offset, limit);
    }

    function _page(address[] storage list, uint256 offset, uint256 limit) private view returns (address[] memory out) {
        if (offset >= list.length) return new address[](0);
        // Compared as remaining count so a huge `limit` (e.g. type(uint256).max) cannot overflow.
        uint256 end = limit > list.length - offset ? list.length : offset + limit;
        out = new address[](end - offset);
        for (uint256 i = offset; i < end; i++) out[i - offset] = list[i];
    }
}
